package drain

import "errors"

// newHTTPSender is replaced by the HTTP drain implementation.
func newHTTPSender(_ *Options, _ *Drain) (sender, error) {
	return nil, errors.New("http drains are not built yet")
}
