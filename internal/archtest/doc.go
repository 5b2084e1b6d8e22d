// Package archtest holds tests that keep homeip's architecture honest:
// every package has a doc comment, and imports only point the way
// docs/DESIGN.md allows. It has no non-test code of its own.
package archtest
