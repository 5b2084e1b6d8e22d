// Package store holds homeip's durable truth: devices, their keys and
// state, address leases, reservations and one-time enrolment tokens. It
// enforces that no address is leased twice when a lease is committed.
package store
