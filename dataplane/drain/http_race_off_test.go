//go:build !race

package drain

const httpRaceEnabled = false
