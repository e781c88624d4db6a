// Package benchkit holds what the runtime's benchmarks share between the Go benchmarks of
// package runtime and the end-to-end harness (scripts/bench/runtime.go): a fake
// OpenAI-compatible streaming server, a bare stdio driver for a plugin process (the floor the
// runtime is measured against), and a load generator that records latencies.
//
// It is measurement code only; nothing in the daemon imports it.
package benchkit
