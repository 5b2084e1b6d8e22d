package binding

// encodeMessage and decodeMessage call the concrete methods through a
// type switch rather than the Message interface: an interface call makes
// the encoder/decoder escape to the heap, which would cost an allocation
// per message.

func encodeMessage(m Message, e *encoder) {
	switch v := m.(type) {
	case *Register:
		v.encode(e)
	case *RegisterAck:
		v.encode(e)
	case *BindingUpdate:
		v.encode(e)
	case *BindingAck:
		v.encode(e)
	case *Deregister:
		v.encode(e)
	case *Switch:
		v.encode(e)
	case *Enroll:
		v.encode(e)
	case *EnrollAck:
		v.encode(e)
	case *Heartbeat:
		v.encode(e)
	case *HeartbeatAck:
		v.encode(e)
	}
}

func decodeMessage(m Message, d *decoder) {
	switch v := m.(type) {
	case *Register:
		v.decode(d)
	case *RegisterAck:
		v.decode(d)
	case *BindingUpdate:
		v.decode(d)
	case *BindingAck:
		v.decode(d)
	case *Deregister:
		v.decode(d)
	case *Switch:
		v.decode(d)
	case *Enroll:
		v.decode(d)
	case *EnrollAck:
		v.decode(d)
	case *Heartbeat:
		v.decode(d)
	case *HeartbeatAck:
		v.decode(d)
	}
}
