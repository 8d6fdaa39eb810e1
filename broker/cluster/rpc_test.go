package cluster

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"io"
	"testing"
)

func frame(body []byte) []byte {
	return append(binary.BigEndian.AppendUint32(nil, uint32(len(body))), body...)
}

func TestReadFrame(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		in      []byte
		want    []byte
		wantErr error
	}{
		{name: "ok", in: frame([]byte(`{"op":"heartbeat"}`)), want: []byte(`{"op":"heartbeat"}`)},
		{name: "empty", in: []byte{0, 0, 0, 0}, wantErr: ErrBadFrame},
		{name: "too large", in: []byte{0xff, 0, 0, 0}, wantErr: ErrFrameTooLarge},
		{name: "short header", in: []byte{0, 0}, wantErr: io.ErrUnexpectedEOF},
		{name: "short body", in: []byte{0, 0, 0, 5, 'a'}, wantErr: io.ErrUnexpectedEOF},
		{name: "eof", in: nil, wantErr: io.EOF},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := readFrame(bytes.NewReader(tc.in), maxFrame)
			if !errors.Is(err, tc.wantErr) || !bytes.Equal(got, tc.want) {
				t.Fatalf("readFrame = %q, %v; want %q, %v", got, err, tc.want, tc.wantErr)
			}
		})
	}
}

func TestDecodeRequest(t *testing.T) {
	t.Parallel()
	for _, bad := range []string{`{`, `{"op":"nope","broker_id":1}`, `{"op":"heartbeat"}`, `[]`} {
		if _, err := decodeRequest([]byte(bad)); !errors.Is(err, ErrBadFrame) {
			t.Errorf("decodeRequest(%s) = %v, want ErrBadFrame", bad, err)
		}
	}
	req, err := decodeRequest([]byte(`{"op":"alter_partition","broker_id":2,"topic":"t","isr":[2,3],"future_field":1}`))
	if err != nil || req.Topic != "t" || len(req.ISR) != 2 {
		t.Fatalf("decodeRequest = %+v, %v", req, err)
	}
}

// FuzzRPCFrame feeds arbitrary bytes to the frame reader and request
// decoder: no panic, a frame never exceeds the limit or the input, and a
// decoded request re-encodes to one that decodes equal.
func FuzzRPCFrame(f *testing.F) {
	f.Add(frame([]byte(`{"op":"create_topic","broker_id":1,"spec":{"Name":"t","Partitions":3,"ReplicationFactor":-1}}`)))
	f.Add(frame([]byte(`{"op":"heartbeat","broker_id":3,"broker_epoch":99}`)))
	f.Add([]byte{0, 0, 0, 1, '{'})
	f.Add([]byte{0xff, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, in []byte) {
		r := bytes.NewReader(in)
		for {
			body, err := readFrame(r, 1<<16)
			if err != nil {
				return
			}
			if len(body) == 0 || len(body) > 1<<16 || len(body) > len(in)-4 {
				t.Fatalf("frame of %d bytes from %d input bytes", len(body), len(in))
			}
			req, err := decodeRequest(body)
			if err != nil {
				continue
			}
			again, err := json.Marshal(req)
			if err != nil {
				t.Fatalf("re-encoding %+v: %v", req, err)
			}
			req2, err := decodeRequest(again)
			if err != nil {
				t.Fatalf("re-decoding %s: %v", again, err)
			}
			a, _ := json.Marshal(req2)
			if !bytes.Equal(a, again) {
				t.Fatalf("unstable: %s vs %s", a, again)
			}
		}
	})
}
