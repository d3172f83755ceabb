//go:build race

package drain

// syslogRaceEnabled: allocation counts are only meaningful without the race
// detector.
const syslogRaceEnabled = true
