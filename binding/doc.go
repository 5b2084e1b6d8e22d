// Package binding is homeip's control protocol (register, binding
// update/ack, deregister, switch) and the home agent's binding cache:
// device to care-of addresses, sequence number, lifetime and expiry.
package binding
