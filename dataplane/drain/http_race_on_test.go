//go:build race

package drain

const httpRaceEnabled = true
