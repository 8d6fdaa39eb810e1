package kafkaproto

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// encodeRequest returns a frame body (no size prefix) for req.
func encodeRequest(req kmsg.Request, corr int32, clientID *string) []byte {
	var f *kmsg.RequestFormatter
	if clientID != nil {
		f = kmsg.NewRequestFormatter(kmsg.FormatterClientID(*clientID))
	} else {
		f = kmsg.NewRequestFormatter()
	}
	return f.AppendRequest(nil, req, corr)[4:]
}

func TestDecodeRequestEveryAdvertisedVersion(t *testing.T) {
	t.Parallel()
	for _, r := range Advertised() {
		for v := r.Min; v <= r.Max; v++ {
			req := kmsg.RequestForKey(int16(r.Key))
			req.SetVersion(v)
			id := "client-1"
			frame := encodeRequest(req, 42+int32(v), &id)
			got, err := DecodeRequest(frame)
			if err != nil {
				t.Fatalf("%s v%d: %v", kmsg.NameForKey(int16(r.Key)), v, err)
			}
			if got.Header.APIKey != int16(r.Key) || got.Header.APIVersion != v || got.Header.CorrelationID != 42+int32(v) {
				t.Fatalf("%s v%d: header %+v", kmsg.NameForKey(int16(r.Key)), v, got.Header)
			}
			if got.Header.ClientID == nil || *got.Header.ClientID != id {
				t.Fatalf("%s v%d: client id %v", kmsg.NameForKey(int16(r.Key)), v, got.Header.ClientID)
			}
			if got.Header.Flexible != req.IsFlexible() || got.Body.GetVersion() != v {
				t.Fatalf("%s v%d: flexible %v body version %d", kmsg.NameForKey(int16(r.Key)), v, got.Header.Flexible, got.Body.GetVersion())
			}
		}
	}
}

func TestDecodeRequest(t *testing.T) {
	t.Parallel()
	meta := kmsg.NewPtrMetadataRequest()
	meta.SetVersion(9)
	topic := kmsg.NewMetadataRequestTopic()
	topic.Topic = kmsg.StringPtr("orders")
	meta.Topics = append(meta.Topics, topic)
	good := encodeRequest(meta, 7, nil)

	// A flexible header carrying one tagged field (tag 5, 2 bytes).
	withTags := append([]byte(nil), good[:10]...) // key, version, corr, null client id
	withTags = append(withTags, 1, 5, 2, 0xaa, 0xbb)
	withTags = append(withTags, good[11:]...) // skip the empty tag section

	sasl := kmsg.NewPtrEndTxnRequest() // a key kmsg knows but we do not advertise
	sasl.SetVersion(1)
	futureAPIVersions := kmsg.NewPtrApiVersionsRequest()
	futureAPIVersions.SetVersion(99)
	unknownKey := binary.BigEndian.AppendUint16(nil, 999)
	unknownKey = append(unknownKey, 0, 0, 0, 0, 0, 3, 0xff, 0xff)

	tests := []struct {
		name      string
		frame     []byte
		wantErr   error
		wantTopic string
	}{
		{name: "metadata v9 null client id", frame: good, wantTopic: "orders"},
		{name: "tagged header fields skipped", frame: withTags, wantTopic: "orders"},
		{name: "truncated header", frame: good[:5], wantErr: ErrTruncatedHeader},
		{name: "truncated client id", frame: []byte{0, 3, 0, 1, 0, 0, 0, 1, 0, 9, 'a'}, wantErr: ErrTruncatedHeader},
		{name: "truncated tags", frame: append(append([]byte(nil), good[:10]...), 3, 1), wantErr: ErrTruncatedHeader},
		{name: "truncated body", frame: good[:len(good)-3], wantErr: ErrMalformedBody},
		{name: "end txn not advertised", frame: encodeRequest(sasl, 1, nil), wantErr: ErrUnsupported},
		{name: "future api versions", frame: encodeRequest(futureAPIVersions, 1, nil), wantErr: ErrUnsupported},
		{name: "unknown key", frame: unknownKey, wantErr: ErrUnsupported},
		{name: "header v0 (controlled shutdown v0) parses, then is unsupported", frame: []byte{0, 7, 0, 0, 0, 0, 0, 9, 0, 0, 0, 1}, wantErr: ErrUnsupported},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := DecodeRequest(tc.frame)
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("err = %v, want %v", err, tc.wantErr)
			}
			if err != nil {
				var u *UnsupportedError
				if errors.As(err, &u) && u.Header.CorrelationID == 0 {
					t.Fatalf("unsupported error lost the correlation id: %+v", u.Header)
				}
				return
			}
			m := got.Body.(*kmsg.MetadataRequest)
			if len(m.Topics) != 1 || *m.Topics[0].Topic != tc.wantTopic {
				t.Fatalf("topics = %+v", m.Topics)
			}
		})
	}
}

func TestAppendResponseHeaderVersion(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		resp    kmsg.Response
		version int16
		tagByte bool
	}{
		{name: "api versions v3 uses header v0", resp: kmsg.NewPtrApiVersionsResponse(), version: 3, tagByte: false},
		{name: "metadata v9 flexible header v1", resp: kmsg.NewPtrMetadataResponse(), version: 9, tagByte: true},
		{name: "metadata v8 header v0", resp: kmsg.NewPtrMetadataResponse(), version: 8, tagByte: false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.resp.SetVersion(tc.version)
			out := AppendResponse([]byte("prefix"), 77, tc.resp)
			out = out[len("prefix"):]
			if int(binary.BigEndian.Uint32(out)) != len(out)-4 {
				t.Fatalf("size prefix %d, frame %d", binary.BigEndian.Uint32(out), len(out)-4)
			}
			if binary.BigEndian.Uint32(out[4:]) != 77 {
				t.Fatal("correlation id")
			}
			body := tc.resp.AppendTo(nil)
			hdr := 4
			if tc.tagByte {
				hdr = 5
			}
			if !bytes.Equal(out[4+hdr:], body) {
				t.Fatalf("body mismatch: header should be %d bytes", hdr)
			}
			back := tc.resp.RequestKind().ResponseKind()
			back.SetVersion(tc.version)
			if err := back.ReadFrom(out[4+hdr:]); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func FuzzDecodeRequest(f *testing.F) {
	for _, r := range Advertised() {
		for _, v := range []int16{r.Min, r.Max} {
			req := kmsg.RequestForKey(int16(r.Key))
			req.SetVersion(v)
			f.Add(encodeRequest(req, 1, kmsg.StringPtr("c")))
		}
	}
	f.Add([]byte{0, 18, 0, 99, 0, 0, 0, 1, 0xff, 0xff, 0})
	f.Fuzz(func(t *testing.T, frame []byte) {
		orig := append([]byte(nil), frame...)
		h, body, herr := ParseRequestHeader(frame)
		if herr == nil && (len(body) > len(frame) || (len(body) > 0 && &body[len(body)-1] != &frame[len(frame)-1])) {
			t.Fatalf("body is not a suffix of the frame: %d of %d", len(body), len(frame))
		}
		req, err := DecodeRequest(frame)
		if !bytes.Equal(orig, frame) {
			t.Fatal("decoding modified its input")
		}
		if err != nil {
			if ErrorCode(err) == 0 {
				t.Fatalf("error %v maps to code 0", err)
			}
			return
		}
		if herr != nil {
			t.Fatalf("decode ok but header failed: %v", herr)
		}
		if !IsSupported(h.APIKey, h.APIVersion) || req.Body.Key() != h.APIKey || req.Body.GetVersion() != h.APIVersion {
			t.Fatalf("decoded %d v%d from header %+v", req.Body.Key(), req.Body.GetVersion(), h)
		}
		// Re-encoding and decoding again must be stable.
		again, err := DecodeRequest(encodeRequest(req.Body, h.CorrelationID, h.ClientID))
		if err != nil {
			t.Fatalf("re-decoding: %v", err)
		}
		if !bytes.Equal(again.Body.AppendTo(nil), req.Body.AppendTo(nil)) {
			t.Fatal("re-encoding is not stable")
		}
	})
}

func TestParseRequestHeaderV0(t *testing.T) {
	t.Parallel()
	h, body, err := ParseRequestHeader([]byte{0, 7, 0, 0, 0, 0, 0, 9, 0, 0, 0, 1})
	if err != nil || h.ClientID != nil || h.CorrelationID != 9 || len(body) != 4 {
		t.Fatalf("header %+v body %v err %v", h, body, err)
	}
}
