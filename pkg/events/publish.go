package events

import (
	"context"
	"fmt"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// PubAck is JetStream's confirmation that an event is stored.
type PubAck struct {
	// Sequence is the stream sequence of the stored event. For a duplicate,
	// it is the sequence of the copy stored first.
	Sequence uint64
	// Duplicate is true when the event id was already in the duplicate
	// window: nothing new was stored.
	Duplicate bool
}

// Publisher publishes revocation events and waits for JetStream to store
// them.
type Publisher struct {
	js jetstream.JetStream
}

// NewPublisher returns a Publisher on js.
func NewPublisher(js jetstream.JetStream) *Publisher {
	return &Publisher{js: js}
}

// Publish validates ev, publishes it on its subject with Nats-Msg-Id set to
// its id, and returns once JetStream has acknowledged storing it. An error
// means durability is not confirmed; publishing the same event again is safe.
func (p *Publisher) Publish(ctx context.Context, ev Event) (PubAck, error) {
	body, err := Encode(ev)
	if err != nil {
		return PubAck{}, err
	}
	msg := &nats.Msg{Subject: ev.Subject(), Data: body, Header: nats.Header{}}
	ack, err := p.js.PublishMsg(ctx, msg, jetstream.WithMsgID(ev.ID), jetstream.WithExpectStream(StreamName))
	if err != nil {
		return PubAck{}, fmt.Errorf("events: publish %s %s: %w", ev.Type, ev.ID, err)
	}
	return PubAck{Sequence: ack.Sequence, Duplicate: ack.Duplicate}, nil
}
