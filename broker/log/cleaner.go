package log

func (l *Log) recoverCleanerSwap() (string, error) { return "", nil }
