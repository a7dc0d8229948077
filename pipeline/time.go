package pipeline

import (
	"math"
	"strconv"
	"strings"
	"time"
	"unsafe"
)

// formatTime appends t in TimeLayout (UTC) to b, which the result aliases.
func formatTime(b []byte, t time.Time) string {
	t = t.UTC()
	year, month, day := t.Date()
	if year < 0 || year > 9999 {
		b = t.AppendFormat(b, TimeLayout)
	} else {
		hour, minute, sec := t.Clock()
		b = appendDigits(b, year, 4)
		b = append(b, '-')
		b = appendDigits(b, int(month), 2)
		b = append(b, '-')
		b = appendDigits(b, day, 2)
		b = append(b, 'T')
		b = appendDigits(b, hour, 2)
		b = append(b, ':')
		b = appendDigits(b, minute, 2)
		b = append(b, ':')
		b = appendDigits(b, sec, 2)
		b = append(b, '.')
		b = appendDigits(b, t.Nanosecond()/1000, 6)
		b = append(b, 'Z')
	}
	return unsafe.String(unsafe.SliceData(b), len(b))
}

// appendDigits appends the n low decimal digits of v >= 0.
func appendDigits(b []byte, v, n int) []byte {
	for i := n - 1; i >= 0; i-- {
		b = append(b, 0)
	}
	for i := len(b) - 1; i >= len(b)-n; i-- {
		b[i] = byte('0' + v%10)
		v /= 10
	}
	return b
}

// parseTime accepts RFC 3339 with any precision and offset (also with a
// space or lower-case t/z), and epoch seconds or milliseconds as a number
// or a numeric string.
func parseTime(v *value) (time.Time, bool) {
	var t time.Time
	switch {
	case v.kind == kNumber:
		return epochText(v.s)
	case v.kind == kString && v.flag&flagBigNumber == 0:
		s := v.s
		if len(s) > 0 && (s[0] == '-' || (s[0] >= '0' && s[0] <= '9')) && !strings.ContainsAny(s, "T:t ") {
			if !isJSONNumber(s) {
				return t, false
			}
			return epochText(s)
		}
		t, err := time.Parse(time.RFC3339Nano, s)
		if err != nil && len(s) > 10 && (s[10] == ' ' || s[10] == 't' || s[len(s)-1] == 'z') {
			b := []byte(s)
			b[10] = 'T'
			if b[len(b)-1] == 'z' {
				b[len(b)-1] = 'Z'
			}
			t, err = time.Parse(time.RFC3339Nano, string(b))
		}
		if err != nil {
			return t, false
		}
		t = t.UTC()
		if t.Year() < 1 || t.Year() > 9999 {
			return t, false
		}
		return t, true
	}
	return t, false
}

const (
	minEpoch = -62135596800 // 0001-01-01T00:00:00Z
	maxEpoch = 253402300799 // 9999-12-31T23:59:59Z
)

// epochText reads epoch seconds, or milliseconds when |n| >= 1e11, from a
// JSON number text, exactly for plain decimals.
func epochText(s string) (time.Time, bool) {
	if strings.ContainsAny(s, "eE") {
		f, err := strconv.ParseFloat(s, 64)
		if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
			return time.Time{}, false
		}
		s = strconv.FormatFloat(f, 'f', -1, 64)
	}
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	ip, fp, _ := strings.Cut(s, ".")
	if len(ip) > 16 {
		return time.Time{}, false
	}
	whole, err := strconv.ParseInt(ip, 10, 64)
	if err != nil {
		return time.Time{}, false
	}
	unitDigits := 9 // fraction digits of a nanosecond count
	if whole >= 1e11 {
		unitDigits = 6
	}
	if len(fp) > unitDigits {
		fp = fp[:unitDigits]
	}
	fp += strings.Repeat("0", unitDigits-len(fp))
	frac, err := strconv.ParseInt(fp, 10, 64)
	if err != nil {
		return time.Time{}, false
	}
	var sec, ns int64
	if unitDigits == 6 {
		sec, ns = whole/1000, (whole%1000)*1e6+frac
	} else {
		sec, ns = whole, frac
	}
	if neg {
		sec, ns = -sec, -ns
	}
	if sec < minEpoch || sec > maxEpoch {
		return time.Time{}, false
	}
	return time.Unix(sec, ns).UTC(), true
}
