package models

import (
	"regexp"
	"strconv"
	"strings"
)

var versionRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._+-]{0,63}$`)

// ValidVersion reports whether s can name a model version in a URL:
// letters, digits, dots, dashes, underscores and plus signs, starting with
// a letter or digit, at most 64 characters.
func ValidVersion(s string) bool { return versionRE.MatchString(s) }

// CompareVersions orders two version strings: they are split at dots and
// dashes, and the parts are compared in turn, numerically when both are
// numbers ("10" > "9", "1.10" > "1.9"), else as strings; a version that is
// a prefix of the other is the smaller. It returns -1, 0 or +1.
func CompareVersions(a, b string) int {
	split := func(s string) []string {
		return strings.FieldsFunc(s, func(r rune) bool { return r == '.' || r == '-' })
	}
	pa, pb := split(a), split(b)
	for i := 0; i < len(pa) && i < len(pb); i++ {
		na, ea := strconv.ParseUint(pa[i], 10, 64)
		nb, eb := strconv.ParseUint(pb[i], 10, 64)
		switch {
		case ea == nil && eb == nil:
			if na != nb {
				if na < nb {
					return -1
				}
				return 1
			}
		case ea == nil: // numbers sort before words
			return -1
		case eb == nil:
			return 1
		default:
			if c := strings.Compare(pa[i], pb[i]); c != 0 {
				return c
			}
		}
	}
	switch {
	case len(pa) < len(pb):
		return -1
	case len(pa) > len(pb):
		return 1
	}
	return strings.Compare(a, b)
}
