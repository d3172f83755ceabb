//go:build !race

package drain

const syslogRaceEnabled = false
