package server

// defaultLogOpener returns the production partition log implementation.
// broker/log has not landed yet, so there is none: New fails with
// ErrNoLogStore unless a log opener is supplied.
func defaultLogOpener(Config) logOpener { return nil }
