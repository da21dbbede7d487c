// SPDX-License-Identifier: Apache-2.0
//
// Shopify/sarama 1.22 ConsumerGroup against a real spated, driven by
// compat_groups.py; built in GOPATH mode from Debian's Go packages.
//
//	sarama_group -brokers HOST:PORT -topic T -group G -n N
//	  Joins G, consumes until N records arrived (or 30 s pass), marks each,
//	  closes the group (which commits the marked offsets), then waits 1 s to
//	  show any record beyond N. Prints one JSON line: the values consumed.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/Shopify/sarama"
)

type handler struct {
	mu     sync.Mutex
	values []string
	enough chan struct{}
	n      int
}

func (h *handler) Setup(sarama.ConsumerGroupSession) error   { return nil }
func (h *handler) Cleanup(sarama.ConsumerGroupSession) error { return nil }

func (h *handler) ConsumeClaim(s sarama.ConsumerGroupSession, c sarama.ConsumerGroupClaim) error {
	for m := range c.Messages() {
		h.mu.Lock()
		h.values = append(h.values, string(m.Value))
		if len(h.values) == h.n {
			close(h.enough)
		}
		h.mu.Unlock()
		s.MarkMessage(m, "")
	}
	return nil
}

func fail(format string, args ...interface{}) {
	fmt.Fprintf(os.Stderr, "sarama_group: "+format+"\n", args...)
	os.Exit(1)
}

func main() {
	brokers := flag.String("brokers", "", "HOST:PORT[,...]")
	topic := flag.String("topic", "", "topic")
	group := flag.String("group", "", "group id")
	n := flag.Int("n", 0, "records to consume")
	flag.Parse()

	c := sarama.NewConfig()
	c.Version = sarama.V2_1_0_0
	c.ClientID = "sarama-group"
	c.Consumer.Return.Errors = true
	c.Consumer.Offsets.Initial = sarama.OffsetOldest
	c.Consumer.Group.Session.Timeout = 6 * time.Second
	c.Consumer.Group.Heartbeat.Interval = 500 * time.Millisecond
	g, err := sarama.NewConsumerGroup(strings.Split(*brokers, ","), *group, c)
	if err != nil {
		fail("NewConsumerGroup: %v", err)
	}
	go func() {
		for err := range g.Errors() {
			fmt.Fprintf(os.Stderr, "sarama_group: error: %v\n", err)
		}
	}()
	h := &handler{enough: make(chan struct{}), n: *n}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		for ctx.Err() == nil {
			if err := g.Consume(ctx, []string{*topic}, h); err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	select {
	case <-h.enough:
	case <-time.After(30 * time.Second):
		fail("only %d of %d records in 30 s", len(h.values), *n)
	}
	time.Sleep(time.Second) // a record beyond N would show now
	cancel()
	if err := <-done; err != nil {
		fail("Consume: %v", err)
	}
	if err := g.Close(); err != nil {
		fail("Close: %v", err)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	json.NewEncoder(os.Stdout).Encode(map[string][]string{"values": h.values})
}
