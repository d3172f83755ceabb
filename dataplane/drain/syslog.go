package drain

import "errors"

// newSyslogSender is replaced by the syslog drain implementation.
func newSyslogSender(_ *Options, _ *Drain) (sender, error) {
	return nil, errors.New("syslog drains are not built yet")
}
