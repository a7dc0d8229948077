package event

import (
	"bytes"
	"time"
)

// timeLayout is the form of every time kt writes (ledger.TimeFormat).
const timeLayout = "2006-01-02T15:04:05.000000Z"

// readTime reads a member value that is an RFC 3339 time string; zero if
// it is not one, an error if it is a broken string.
func readTime(v []byte) (time.Time, error) {
	if v[0] != '"' {
		return time.Time{}, nil
	}
	if bytes.IndexByte(v, '\\') < 0 {
		return parseTimeText(v[1 : len(v)-1]), nil
	}
	s, err := text(v)
	if err != nil {
		return time.Time{}, err
	}
	return parseTimeText([]byte(s)), nil
}

// parseTimeText reads an RFC 3339 time, in kt's own layout at a fraction
// of the cost of time.Parse, any other RFC 3339 form by time.Parse; zero
// if it is not one. The result is what time.Parse(time.RFC3339Nano) gives
// (TestParseTime).
func parseTimeText(b []byte) time.Time {
	if t, ok := parseLayout(b); ok {
		return t
	}
	t, err := time.Parse(time.RFC3339Nano, string(b))
	if err != nil {
		return time.Time{}
	}
	return t
}

// parseLayout reads b if it is in timeLayout.
func parseLayout(b []byte) (time.Time, bool) {
	if len(b) != len(timeLayout) || b[4] != '-' || b[7] != '-' || b[10] != 'T' ||
		b[13] != ':' || b[16] != ':' || b[19] != '.' || b[26] != 'Z' {
		return time.Time{}, false
	}
	year, ok1 := digits(b[0:4])
	month, ok2 := digits(b[5:7])
	day, ok3 := digits(b[8:10])
	hour, ok4 := digits(b[11:13])
	minute, ok5 := digits(b[14:16])
	sec, ok6 := digits(b[17:19])
	micro, ok7 := digits(b[20:26])
	if !(ok1 && ok2 && ok3 && ok4 && ok5 && ok6 && ok7) ||
		month < 1 || month > 12 || day < 1 || day > daysIn(month, year) ||
		hour > 23 || minute > 59 || sec > 59 {
		return time.Time{}, false
	}
	return time.Date(year, time.Month(month), day, hour, minute, sec, micro*1000, time.UTC), true
}

func digits(b []byte) (int, bool) {
	n := 0
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, true
}

func daysIn(month, year int) int {
	switch month {
	case 2:
		if year%4 == 0 && (year%100 != 0 || year%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}
