package config

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// sizeUnits are the units a byte size may be written in: IEC powers of
// 1024 (as GOMEMLIMIT writes them) and SI powers of 1000. Units are matched
// case-insensitively; a bare number is bytes.
var sizeUnits = []struct {
	name  string
	bytes int64
}{
	{"B", 1},
	{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"TiB", 1 << 40},
	{"kB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"TB", 1e12},
}

// parseSize reads a byte size: "536870912", "512MiB", "1.5GiB", "1500MB",
// "2 GiB". It refuses negative sizes and sizes beyond int64.
func parseSize(s string) (int64, error) {
	num := strings.TrimSpace(s)
	unit := int64(1)
	if i := strings.IndexFunc(num, func(r rune) bool { return (r < '0' || r > '9') && r != '.' }); i >= 0 {
		name := strings.TrimSpace(num[i:])
		num = num[:i]
		unit = 0
		for _, u := range sizeUnits {
			if strings.EqualFold(name, u.name) {
				unit = u.bytes
				break
			}
		}
		if unit == 0 {
			return 0, fmt.Errorf("%q is not a size like \"512MiB\", \"2GiB\", \"1500MB\" or a number of bytes", s)
		}
	}
	if num == "" {
		return 0, fmt.Errorf("%q is not a size like \"512MiB\", \"2GiB\", \"1500MB\" or a number of bytes", s)
	}
	if n, err := strconv.ParseInt(num, 10, 64); err == nil {
		if n > math.MaxInt64/unit {
			return 0, fmt.Errorf("%q is too large", s)
		}
		return n * unit, nil
	}
	f, err := strconv.ParseFloat(num, 64)
	if err != nil || unit == 1 {
		// A fraction of a byte makes no sense; "1.5" is a unit forgotten.
		return 0, fmt.Errorf("%q is not a size like \"512MiB\", \"2GiB\", \"1500MB\" or a number of bytes", s)
	}
	b := math.Round(f * float64(unit))
	if b >= math.MaxInt64 {
		return 0, fmt.Errorf("%q is too large", s)
	}
	return int64(b), nil
}

// formatSize writes n bytes in the largest IEC unit that divides it exactly
// ("512MiB", "2GiB"), else as a number of bytes, so parseSize reads it back.
func formatSize(n int64) string {
	for _, u := range []struct {
		name  string
		bytes int64
	}{{"TiB", 1 << 40}, {"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}} {
		if n != 0 && n%u.bytes == 0 {
			return strconv.FormatInt(n/u.bytes, 10) + u.name
		}
	}
	return strconv.FormatInt(n, 10)
}

// byteSize is a size shown by Settings the way config.hcl writes it.
type byteSize int64
