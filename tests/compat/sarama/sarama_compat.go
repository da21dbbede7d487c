// SPDX-License-Identifier: Apache-2.0
//
// Shopify/sarama 1.22 (Debian's golang-github-shopify-sarama-dev) against a
// real spated, driven by compat_sarama.py. Built in GOPATH mode from Debian's
// Go packages: nothing is downloaded.
//
//	sarama_compat -brokers HOST:PORT -topic T -mode produce -n 1000
//	  SyncProducer (Version V2_1_0_0, acks=all): half the records one
//	  SendMessage at a time, half with SendMessages; keys and partitions chosen
//	  by the program. Prints one JSON line: per partition, the keys sent.
//	sarama_compat -brokers HOST:PORT -topic T -mode consume -n 1000
//	  Consumer.ConsumePartition from the oldest offset of every partition until
//	  every record is back (or 30 s pass); the log start offset of each
//	  partition (ListOffsets earliest). Prints one JSON line.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/Shopify/sarama"
)

const partitions = 2

func config() *sarama.Config {
	c := sarama.NewConfig()
	c.Version = sarama.V2_1_0_0
	c.ClientID = "sarama-compat"
	c.Producer.RequiredAcks = sarama.WaitForAll
	c.Producer.Return.Successes = true
	c.Producer.Partitioner = sarama.NewManualPartitioner
	c.Producer.Retry.Max = 0 // a refused batch must show, not be retried away
	c.Consumer.Return.Errors = true
	c.Metadata.Retry.Max = 10
	c.Metadata.Retry.Backoff = 200 * time.Millisecond
	return c
}

func key(i int) string   { return fmt.Sprintf("key-%04d", i) }
func value(i int) string { return fmt.Sprintf("value %d %s", i, string(make([]byte, i%50))) }

func fail(format string, args ...interface{}) {
	fmt.Fprintf(os.Stderr, "sarama_compat: "+format+"\n", args...)
	os.Exit(1)
}

type produced struct {
	Offsets map[int32][]int64 `json:"offsets"`
}

func produce(brokers []string, topic string, n int) {
	p, err := sarama.NewSyncProducer(brokers, config())
	if err != nil {
		fail("NewSyncProducer: %v", err)
	}
	defer p.Close()
	out := produced{Offsets: map[int32][]int64{}}
	half := n / 2
	for i := 0; i < half; i++ {
		m := &sarama.ProducerMessage{Topic: topic, Partition: int32(i % partitions),
			Key: sarama.StringEncoder(key(i)), Value: sarama.StringEncoder(value(i)),
			Timestamp: time.Now()}
		part, offset, err := p.SendMessage(m)
		if err != nil {
			fail("SendMessage %d: %v", i, err)
		}
		out.Offsets[part] = append(out.Offsets[part], offset)
	}
	const chunk = 100
	for start := half; start < n; start += chunk {
		var msgs []*sarama.ProducerMessage
		for i := start; i < start+chunk && i < n; i++ {
			msgs = append(msgs, &sarama.ProducerMessage{Topic: topic,
				Partition: int32(i % partitions), Key: sarama.StringEncoder(key(i)),
				Value: sarama.StringEncoder(value(i)), Timestamp: time.Now()})
		}
		if err := p.SendMessages(msgs); err != nil {
			fail("SendMessages from %d: %v", start, err)
		}
		for _, m := range msgs {
			out.Offsets[m.Partition] = append(out.Offsets[m.Partition], m.Offset)
		}
	}
	json.NewEncoder(os.Stdout).Encode(out)
}

type consumed struct {
	Records     int             `json:"records"`
	Mismatches  []string        `json:"mismatches"`
	StartOffset map[int32]int64 `json:"start_offset"`
	EndOffset   map[int32]int64 `json:"end_offset"`
	Timestamps  int             `json:"records_with_timestamps"`
}

func consume(brokers []string, topic string, n int) {
	client, err := sarama.NewClient(brokers, config())
	if err != nil {
		fail("NewClient: %v", err)
	}
	defer client.Close()
	out := consumed{StartOffset: map[int32]int64{}, EndOffset: map[int32]int64{}}
	for p := int32(0); p < partitions; p++ {
		if out.StartOffset[p], err = client.GetOffset(topic, p, sarama.OffsetOldest); err != nil {
			fail("GetOffset oldest %d: %v", p, err)
		}
		if out.EndOffset[p], err = client.GetOffset(topic, p, sarama.OffsetNewest); err != nil {
			fail("GetOffset newest %d: %v", p, err)
		}
		if out.StartOffset[p] != 0 {
			fail("partition %d: log start offset %d (end %d): retention deleted acknowledged records",
				p, out.StartOffset[p], out.EndOffset[p])
		}
	}
	consumer, err := sarama.NewConsumerFromClient(client)
	if err != nil {
		fail("NewConsumer: %v", err)
	}
	defer consumer.Close()
	deadline := time.After(30 * time.Second)
	seen := map[string]bool{}
	for p := int32(0); p < partitions; p++ {
		pc, err := consumer.ConsumePartition(topic, p, sarama.OffsetOldest)
		if err != nil {
			fail("ConsumePartition %d: %v", p, err)
		}
		want := 0
		for i := 0; i < n; i++ {
			if int32(i%partitions) == p {
				want++
			}
		}
		expected := int64(0)
		for got := 0; got < want; {
			select {
			case m := <-pc.Messages():
				i := 0
				fmt.Sscanf(string(m.Key), "key-%d", &i)
				if string(m.Key) != key(i) || string(m.Value) != value(i) || int32(i%partitions) != p ||
					m.Offset != expected || seen[key(i)] {
					out.Mismatches = append(out.Mismatches, fmt.Sprintf("p%d o%d k=%q", p, m.Offset, m.Key))
				}
				if !m.Timestamp.IsZero() && m.Timestamp.Unix() > 1e9 {
					out.Timestamps++
				}
				seen[key(i)] = true
				expected = m.Offset + 1
				got++
				out.Records++
			case e := <-pc.Errors():
				fail("partition %d: %v", p, e)
			case <-deadline:
				fail("partition %d: %d of %d records after 30 s", p, got, want)
			}
		}
		pc.Close()
	}
	json.NewEncoder(os.Stdout).Encode(out)
}

func main() {
	brokers := flag.String("brokers", "", "host:port")
	topic := flag.String("topic", "sarama-compat", "topic")
	mode := flag.String("mode", "", "produce or consume")
	n := flag.Int("n", 1000, "records")
	flag.Parse()
	switch *mode {
	case "produce":
		produce([]string{*brokers}, *topic, *n)
	case "consume":
		consume([]string{*brokers}, *topic, *n)
	default:
		fail("-mode produce|consume")
	}
}
