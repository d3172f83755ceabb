package main

import (
	"io"

	"github.com/logplex/logplex/bench"
)

// runBench is `logplex bench`: the end-to-end benchmark suite, whose flags
// and wiring live in bench (bench.Main).
func runBench(args []string, stdout, stderr io.Writer) int {
	return bench.Main(args, stdout, stderr, version)
}
