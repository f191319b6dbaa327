package channel

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"
	"time"
)

// cat joins byte strings.
func cat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

// rep is n copies of b.
func rep(b []byte, n int) []byte { return bytes.Repeat(b, n) }

// be32 is n as a big-endian uint32.
func be32(n int) []byte { return binary.BigEndian.AppendUint32(nil, uint32(n)) }

// nestedArrays is n arrays, each the only element of the one around it.
func nestedArrays(n int) []byte { return cat(rep([]byte{0x91}, n-1), []byte{0x90}) }

// arrayOf is an array32 of n copies of elem.
func arrayOf(n int, elem []byte) []byte { return cat([]byte{0xdd}, be32(n), rep(elem, n)) }

// underUnknownKey puts v in a cancel message under a key no version knows,
// which the decoder skips: where a hostile peer hides a payload.
func underUnknownKey(v []byte) []byte {
	return cat([]byte{0x83, 0xa1, 't', 0xa6}, []byte("cancel"), []byte{0xa6}, []byte("cancel"),
		[]byte{0x81, 0xa2, 'i', 'd', 0x01}, []byte{0xa1, 'x'}, v)
}

// scanWant is what scan should say of a payload.
type scanWant int

const (
	scanOK scanWant = iota
	scanBad
	scanLimit
)

func (w scanWant) check(t *testing.T, err error) {
	t.Helper()
	switch {
	case w == scanOK && err != nil:
		t.Errorf("scan = %v, want nil", err)
	case w == scanBad && (err == nil || errors.Is(err, ErrLimit)):
		t.Errorf("scan = %v, want a format error", err)
	case w == scanLimit && !errors.Is(err, ErrLimit):
		t.Errorf("scan = %v, want ErrLimit", err)
	}
}

func TestScanTypes(t *testing.T) {
	tests := []struct {
		name    string
		payload []byte
	}{
		{"positive fixint", []byte{0x05}},
		{"negative fixint", []byte{0xff}},
		{"nil", []byte{0xc0}},
		{"false", []byte{0xc2}},
		{"true", []byte{0xc3}},
		{"uint8", []byte{0xcc, 0xff}},
		{"uint16", []byte{0xcd, 1, 2}},
		{"uint32", []byte{0xce, 1, 2, 3, 4}},
		{"uint64", []byte{0xcf, 1, 2, 3, 4, 5, 6, 7, 8}},
		{"int8", []byte{0xd0, 0x80}},
		{"int16", []byte{0xd1, 1, 2}},
		{"int32", []byte{0xd2, 1, 2, 3, 4}},
		{"int64", []byte{0xd3, 1, 2, 3, 4, 5, 6, 7, 8}},
		{"float32", []byte{0xca, 1, 2, 3, 4}},
		{"float64", []byte{0xcb, 1, 2, 3, 4, 5, 6, 7, 8}},
		{"fixstr", []byte{0xa3, 'a', 'b', 'c'}},
		{"empty fixstr", []byte{0xa0}},
		{"str8", []byte{0xd9, 3, 'a', 'b', 'c'}},
		{"str16", []byte{0xda, 0, 3, 'a', 'b', 'c'}},
		{"str32", []byte{0xdb, 0, 0, 0, 3, 'a', 'b', 'c'}},
		{"bin8", []byte{0xc4, 2, 0, 1}},
		{"bin16", []byte{0xc5, 0, 2, 0, 1}},
		{"bin32", []byte{0xc6, 0, 0, 0, 2, 0, 1}},
		{"fixext1", []byte{0xd4, 5, 1}},
		{"fixext2", []byte{0xd5, 5, 1, 2}},
		{"fixext4", []byte{0xd6, 5, 1, 2, 3, 4}},
		{"fixext8", cat([]byte{0xd7, 5}, rep([]byte{1}, 8))},
		{"fixext16", cat([]byte{0xd8, 5}, rep([]byte{1}, 16))},
		{"ext8", []byte{0xc7, 3, 5, 1, 2, 3}},
		{"ext16", []byte{0xc8, 0, 3, 5, 1, 2, 3}},
		{"ext32", []byte{0xc9, 0, 0, 0, 3, 5, 1, 2, 3}},
		{"empty ext8", []byte{0xc7, 0, 5}},
		{"timestamp32", []byte{0xd6, 0xff, 1, 2, 3, 4}},
		{"timestamp64", cat([]byte{0xd7, 0xff}, rep([]byte{1}, 8))},
		{"timestamp96", cat([]byte{0xc7, 12, 0xff}, rep([]byte{1}, 12))},
		{"fixarray", []byte{0x92, 1, 2}},
		{"empty fixarray", []byte{0x90}},
		{"array16", []byte{0xdc, 0, 2, 1, 2}},
		{"array32", []byte{0xdd, 0, 0, 0, 2, 1, 2}},
		{"fixmap", []byte{0x81, 0xa1, 'k', 1}},
		{"empty fixmap", []byte{0x80}},
		{"map16", []byte{0xde, 0, 1, 0xa1, 'k', 1}},
		{"map32", []byte{0xdf, 0, 0, 0, 1, 0xa1, 'k', 1}},
		{"containers in containers", []byte{0x82, 0xa1, 'a', 0x92, 0x80, 0x90, 0xa1, 'b', 0x81, 1, 0x91, 0xc0}},
		{"unknown key", underUnknownKey([]byte{0x92, 0xc0, 0xc3})},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { scanOK.check(t, scan(tt.payload)) })
	}
}

func TestScanRejects(t *testing.T) {
	tests := []struct {
		name    string
		payload []byte
		want    scanWant
	}{
		{"empty", nil, scanBad},
		{"never used 0xc1", []byte{0xc1}, scanBad},
		{"0xc1 inside an array", []byte{0x92, 1, 0xc1}, scanBad},
		{"two values", []byte{0x01, 0x02}, scanBad},
		{"bytes after a map", []byte{0x80, 0x00}, scanBad},

		{"uint16 cut short", []byte{0xcd, 1}, scanBad},
		{"float64 cut short", []byte{0xcb, 1, 2, 3}, scanBad},
		{"fixstr cut short", []byte{0xa3, 'a', 'b'}, scanBad},
		{"str8 without its length", []byte{0xd9}, scanBad},
		{"str16 length cut short", []byte{0xda, 0}, scanBad},
		{"bin32 length cut short", []byte{0xc6, 0, 0, 0}, scanBad},
		{"ext8 without its type", []byte{0xc7, 0}, scanBad},
		{"fixext4 cut short", []byte{0xd6, 0xff, 1, 2}, scanBad},
		{"fixarray missing a value", []byte{0x92, 1}, scanBad},
		{"fixmap missing a value", []byte{0x81, 0xa1, 'k'}, scanBad},
		{"array16 count cut short", []byte{0xdc, 0}, scanBad},
		{"map32 count cut short", []byte{0xdf, 0, 0}, scanBad},

		{"str32 claims 4 GiB", []byte{0xdb, 0xff, 0xff, 0xff, 0xff, 'a'}, scanBad},
		{"bin32 claims 4 GiB", []byte{0xc6, 0xff, 0xff, 0xff, 0xff, 0}, scanBad},
		{"ext32 claims 4 GiB", []byte{0xc9, 0xff, 0xff, 0xff, 0xff, 5, 0}, scanBad},
		{"array32 claims 4G values", []byte{0xdd, 0xff, 0xff, 0xff, 0xff, 0xc0}, scanBad},
		{"map32 claims 4G entries", []byte{0xdf, 0xff, 0xff, 0xff, 0xff, 0xc0, 0xc0}, scanBad},
		{"map claims twice the bytes left", []byte{0x82, 1, 2, 3}, scanBad},
		{"inner array claims more than is left", []byte{0x92, 0x9f, 1, 2, 3}, scanBad},
		{"str8 claims one byte too many", []byte{0xd9, 4, 'a', 'b', 'c'}, scanBad},
		{"journal of 4G entries", underUnknownKey([]byte{0xdd, 0xff, 0xff, 0xff, 0xff, 0x80}), scanBad},

		{"depth at the limit", nestedArrays(MaxDepth), scanOK},
		{"depth over the limit", nestedArrays(MaxDepth + 1), scanLimit},
		{"maps at the limit", cat(rep([]byte{0x81, 0x01}, MaxDepth-1), []byte{0x80}), scanOK},
		{"maps over the limit", cat(rep([]byte{0x81, 0x01}, MaxDepth), []byte{0x80}), scanLimit},
		{"value at the deepest level", cat(rep([]byte{0x91}, MaxDepth), []byte{0x01}), scanOK},
		{"deep, then back up", cat([]byte{0x92}, nestedArrays(MaxDepth-1), []byte{0x01}), scanOK},
		{"deep twice", cat([]byte{0x92}, nestedArrays(MaxDepth-1), nestedArrays(MaxDepth-1)), scanOK},
		{"deep under an unknown key", underUnknownKey(nestedArrays(MaxDepth)), scanLimit},
		{"million levels", nestedArrays(1 << 20), scanLimit},

		{"values at the limit", arrayOf(MaxValues-1, []byte{0xc0}), scanOK},
		{"values over the limit", arrayOf(MaxValues, []byte{0xc0}), scanLimit},
		{"map keys count", cat([]byte{0xdf}, be32(MaxValues/2), rep([]byte{0xc0, 0xc0}, MaxValues/2)), scanLimit},
		{"empty maps count", underUnknownKey(arrayOf(MaxValues, []byte{0x80})), scanLimit},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { tt.want.check(t, scan(tt.payload)) })
	}
}

// TestScanAcceptsWhatWeSend checks that every message the tests send, and
// a lock record with a long journal, are within the limits.
func TestScanAcceptsWhatWeSend(t *testing.T) {
	var msgs []*Message
	for _, ex := range specExamples {
		msgs = append(msgs, ex.msg)
	}
	msgs = append(msgs, roundTripMessages()...)
	msgs = append(msgs, longJournal(7500))
	for _, m := range msgs {
		b, err := Encode(m)
		if err != nil {
			t.Fatalf("Encode(%s): %v", m.Type, err)
		}
		if err := scan(b[4:]); err != nil {
			t.Errorf("scan(%s) = %v", m.Type, err)
		}
	}
}

// TestSendRefusesPastLimits checks that a message the peer would refuse
// is refused by Send, with ErrLimit, before it is written.
func TestSendRefusesPastLimits(t *testing.T) {
	_, err := Encode(longJournal(MaxValues / 10))
	if !errors.Is(err, ErrLimit) {
		t.Fatalf("Encode of a journal of %d entries = %v, want ErrLimit", MaxValues/10, err)
	}
}

// longJournal is a ready whose lock record has n journal entries with
// every field set, the largest message a real session sends.
func longJournal(n int) *Message {
	ended := time.Date(2026, 11, 21, 10, 0, 0, 123, time.Local)
	rec := &Record{DeployID: "d1", Holder: "ops@ws", PID: 42, Node: "node1", Plan: "deploy", PlanHash: "ab12",
		Steps: 9, Started: ended, AgentPID: 43, Session: "5e55", Attached: ended, Detached: ended}
	for i := range n {
		rec.Journal = append(rec.Journal, Entry{Step: i%9 + 1, Seq: int64(i + 1), Host: "remote", Op: "pip_install",
			Status: "FAILED", Message: "exit status 1", Duration: 1500000, Ended: ended})
	}
	return &Message{Type: TReady, Ready: &Ready{Version: Version, Agent: "ab12", Status: "BLOCKED", Locked: true, Lock: rec}}
}
