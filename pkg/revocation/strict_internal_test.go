package revocation

import (
	"reflect"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// fieldNames must list every JSON member of Event, or checkStrict would
// let "JTI" through beside a field added later.
func TestFieldNamesMatchEvent(t *testing.T) {
	var tags []string
	typ := reflect.TypeFor[Event]()
	for i := range typ.NumField() {
		name, _, _ := strings.Cut(typ.Field(i).Tag.Get("json"), ",")
		tags = append(tags, name)
	}
	if diff := cmp.Diff(tags, fieldNames[:]); diff != "" {
		t.Fatalf("fieldNames differ from Event's json tags (-tags +fieldNames):\n%s", diff)
	}
	if len(fieldNames) > 16 {
		t.Fatalf("%d field names do not fit checkStrict's uint16 of seen fields", len(fieldNames))
	}
}
