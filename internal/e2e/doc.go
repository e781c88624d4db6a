// Package e2e holds end-to-end tests of `plugd serve`: each test builds the plugd binary,
// starts it as a real process on a loopback port with its own data folder, and drives it
// with a client that makes exactly the calls Dify's API server makes (the paths, headers,
// bodies and the parsing of envelopes and `data:` streams that Dify's plugin client uses),
// against real plugins written with the dify_plugin SDK (testdata/plugins: e2etool, a tool
// and endpoint plugin; e2eagent, an agent strategy calling an LLM and a tool; e2ehook, an
// endpoint using storage, file upload and a secret setting). Plugins attached for remote
// debugging run on both SDK lines (remote_test.go); calls back into Dify reach a fake of
// Dify's inner API (fake_dify_test.go), written from Dify's side of the protocol too.
//
// The package has no code of its own: everything is in _test.go files, so that nothing
// outside the tests can come to depend on it. What the tests cover and the environment they
// read are described at the top of daemon_test.go; scripts/test.sh sets that environment.
//
// The Dify client (dify_client_test.go) is written from the description of Dify's side of
// the protocol, never from plugd's handlers, so that a misunderstanding shared by the daemon
// and its own unit tests still shows up here as a failure.
package e2e
