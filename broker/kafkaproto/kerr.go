package kafkaproto

import (
	"context"
	"errors"

	"github.com/twmb/franz-go/pkg/kerr"
)

// ErrorCode maps err to the Kafka error code a response carries. It is the
// only place in Sluice that does so: lower layers either return a *kerr.Error
// (wrapped as they like) or one of the sentinels below, and everything else
// is UNKNOWN_SERVER_ERROR. nil maps to 0 (NONE).
func ErrorCode(err error) int16 {
	if err == nil {
		return 0
	}
	var ke *kerr.Error
	switch {
	case errors.As(err, &ke):
		return ke.Code
	case errors.Is(err, ErrCorruptBatch):
		return kerr.CorruptMessage.Code
	case errors.Is(err, ErrUnsupported):
		return kerr.UnsupportedVersion.Code
	case errors.Is(err, ErrMalformedBody), errors.Is(err, ErrTruncatedHeader):
		return kerr.InvalidRequest.Code
	case errors.Is(err, ErrFrameTooLarge):
		return kerr.MessageTooLarge.Code
	case errors.Is(err, context.DeadlineExceeded):
		return kerr.RequestTimedOut.Code
	case errors.Is(err, context.Canceled):
		return kerr.BrokerNotAvailable.Code
	}
	return kerr.UnknownServerError.Code
}

// ErrorMessage returns the text a response's error_message field should
// carry for err: nil for success, else err's message.
func ErrorMessage(err error) *string {
	if err == nil {
		return nil
	}
	s := err.Error()
	return &s
}
