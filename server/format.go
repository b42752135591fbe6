package server

import "strconv"

func formatInt(value int64) string { return strconv.FormatInt(value, 10) }

func formatHex(value uint64) string { return strconv.FormatUint(value, 16) }
