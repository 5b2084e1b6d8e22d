// Package homeagent is the homeip server: the QUIC control listener,
// enrolment, registration, binding updates applied to the data plane, DNS,
// the admin API and metrics.
package homeagent
