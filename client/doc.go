// Package client is the homeip mobile node: enrolment, bring-up of the
// local tunnel, movement detection, binding updates, keepalives and
// reconnection.
package client
