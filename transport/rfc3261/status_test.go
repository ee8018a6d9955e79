package rfc3261

import "testing"

func TestStatusClassesMeetAtTheirBounds(t *testing.T) {
	for _, tc := range []struct {
		code                                 int
		valid, provisional, success, failure bool
	}{
		{99, false, true, false, false},
		{100, true, true, false, false},
		{199, true, true, false, false},
		{200, true, false, true, false},
		{299, true, false, true, false},
		{300, true, false, false, true},
		{699, true, false, false, true},
		{700, false, false, false, true},
	} {
		got := []bool{ValidStatus(tc.code), Provisional(tc.code), Success(tc.code), Failure(tc.code)}
		want := []bool{tc.valid, tc.provisional, tc.success, tc.failure}
		for i, name := range []string{"ValidStatus", "Provisional", "Success", "Failure"} {
			if got[i] != want[i] {
				t.Errorf("%s(%d) = %v, want %v", name, tc.code, got[i], want[i])
			}
		}
	}
}
