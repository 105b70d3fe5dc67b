package batch

import (
	"errors"
	"testing"

	"pgregory.net/rapid"
)

func TestBuildValidateRoundTrip(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		n := rapid.IntRange(1, 20).Draw(t, "records")
		records := make([]Record, n)
		for i := range records {
			records[i].Key = rapid.SliceOfN(rapid.Byte(), 0, 16).Draw(t, "key")
			records[i].Value = rapid.SliceOfN(rapid.Byte(), 0, 64).Draw(t, "value")
		}
		b := Build(BuildOptions{BaseOffset: 7, ProducerID: -1}, records)
		h, err := Validate(b)
		if err != nil {
			t.Fatalf("valid batch refused: %v", err)
		}
		if h.RecordCount != int32(n) || h.LastOffset() != 7+int64(n)-1 {
			t.Fatalf("header %+v for %d records", h, n)
		}
		SetBaseOffset(b, 1000)
		SetLeaderEpoch(b, 5)
		if h, err = Validate(b); err != nil || h.BaseOffset != 1000 || h.LeaderEpoch != 5 {
			t.Fatalf("stamping broke the batch: %+v %v", h, err)
		}
		got, err := Records(b)
		if err != nil || len(got) != n {
			t.Fatalf("decode: %d records, %v", len(got), err)
		}
		for i := range got {
			if string(got[i].Value) != string(records[i].Value) || string(got[i].Key) != string(records[i].Key) {
				t.Fatalf("record %d differs", i)
			}
		}
		// Any single flipped bit covered by the CRC is caught.
		flip := rapid.IntRange(attributesOffset, len(b)-1).Draw(t, "flip")
		c := append([]byte(nil), b...)
		c[flip] ^= 1 << rapid.IntRange(0, 7).Draw(t, "bit")
		if _, err := Validate(c); err == nil {
			t.Fatalf("bit flip at %d not caught", flip)
		}
	})
}

func TestValidateRefusals(t *testing.T) {
	good := Build(BuildOptions{ProducerID: -1}, []Record{{Value: []byte("a")}, {Value: []byte("b")}})
	cases := []struct {
		name   string
		mutate func([]byte) []byte
		want   error
	}{
		{"truncated header", func(b []byte) []byte { return b[:30] }, ErrTruncated},
		{"truncated body", func(b []byte) []byte { return b[:len(b)-1] }, ErrTruncated},
		{"trailing bytes", func(b []byte) []byte { return append(b, 0) }, ErrTrailing},
		{"magic", func(b []byte) []byte { b[magicOffset] = 1; return b }, ErrBadMagic},
		{"crc", func(b []byte) []byte { b[len(b)-1] ^= 0xff; return b }, ErrCorrupt},
		{"short length", func(b []byte) []byte { b[batchLengthOffset+3] = 3; b[batchLengthOffset+2] = 0; return b }, ErrBadLength},
	}
	for _, c := range cases {
		b := c.mutate(append([]byte(nil), good...))
		if _, err := Validate(b); !errors.Is(err, c.want) {
			t.Errorf("%s: got %v, want %v", c.name, err, c.want)
		}
	}
}
