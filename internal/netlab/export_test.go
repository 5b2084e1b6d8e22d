package netlab

// FailBuildAfterLinks makes every New fail right after the access links
// (and their delay relays) are set up, until restore is called. Only for
// tests that do not run in parallel.
func FailBuildAfterLinks(err error) (restore func()) {
	failAfterLinks = err
	return func() { failAfterLinks = nil }
}
