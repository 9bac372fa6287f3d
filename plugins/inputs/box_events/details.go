package box_events

import (
	"encoding/json"
	"strconv"
	"strings"
)

// additional_details becomes fields. The families Box documents get typed fields of their own
// (collaboration, Shield alerts, service, version, size, shared link, device, failed login);
// objects named after a family (metadata, task, comment, sign_request, legal_hold_policy, ...)
// become <family>_<key>, and top-level keys that name a family (metadata_template_key,
// task_id, sign_request_id, ...) keep their name. Every other key becomes details_<path>, the
// path's keys joined by "_", down to maxDetailsDepth keys; arrays, and objects at that depth,
// are kept as compact JSON text. These two kinds of fields are strings whatever Box sent (see
// text): only the typed fields have another type, always the same. At most maxDetailsFields such generic fields are added to one
// event; what is left out is counted, and the reader logs the count once per page.
//
// The text walked is additional_details as the decoder kept it: valid, compact JSON. The
// walker still checks every bound, so that a malformed text ends the walk rather than a
// process.

const (
	maxDetailsDepth  = 3
	maxDetailsFields = 32
	detailsPrefix    = "details_"
)

// detailsFamilies are the objects whose members become <family>_<key>.
var detailsFamilies = map[string]bool{
	"metadata": true, "metadata_template": true, "metadata_instance": true,
	"task": true, "task_assignment": true, "comment": true,
	"sign_request": true, "signer": true,
	"legal_hold_policy": true, "retention_policy": true, "policy": true,
}

// detailsFamilyPrefixes are the top-level keys that keep their name.
var detailsFamilyPrefixes = [...]string{
	"metadata_", "task_", "comment_", "sign_", "signer_", "legal_hold_", "retention_", "policy_",
}

// details adds the fields of one event's additional_details to m.
type details struct {
	m        *boxMetric
	in       *interner
	collab   bool // the event is a collaboration event: role is the collaborator's role
	added    int  // generic fields added
	cut      int  // generic fields left out
	name     []byte
	shieldIP bool // shield_ip was set
	shieldSv bool // shield_service was set
	from     int  // the first of m's fields that came from additional_details
}

// has reports whether a field named key came from additional_details already (a key Box sent
// twice, or two paths that make one name). Only those fields are looked at: no name made here
// is one of the fields the event itself gives (event_id, user_*, source_*, ...).
func (w *details) has(key string) bool {
	for _, f := range w.m.fields[w.from:] {
		if f.Key == key {
			return true
		}
	}
	return false
}

// addDetails adds the fields of d, the compact JSON text of additional_details, to m and
// returns how many generic fields it left out. Text that is not an object is the field
// additional_details.
func addDetails(m *boxMetric, in *interner, d, category string) (cut int) {
	if d == "" {
		return 0
	}
	if d[0] != '{' {
		m.appendField("additional_details", d)
		return 0
	}
	w := details{m: m, in: in, collab: category == categoryCollaboration, name: in.scratch(), from: len(m.fields)}
	w.top(d)
	in.keep(w.name)
	return w.cut
}

// top walks the members of additional_details.
func (w *details) top(obj string) {
	eachMember(obj, func(key, v string) {
		fb := func() { w.generic(key, v) }
		switch key {
		case "collab_id":
			w.str("collab_id", v, false, fb)
		case "is_performed_by_admin":
			w.boolean("collab_performed_by_admin", v, fb)
		case "role":
			if w.collab {
				w.str("collab_role", v, true, fb)
				return
			}
			w.generic(key, v)
		case "service_id", "service_name", "device_name", "device_type", "failure_reason", "shared_link_access":
			w.str(key, v, true, fb)
		case "version_id", "shared_link_id", "device_id":
			w.str(key, v, false, fb)
		case "size":
			w.integer(key, v, fb)
		case "shield_alert":
			if v != "" && v[0] == '{' {
				w.shield(v)
				return
			}
			w.generic(key, v)
		default:
			switch {
			case v != "" && v[0] == '{' && detailsFamilies[key]:
				eachMember(v, func(k, fv string) {
					w.family(key, k, fv)
				})
			case hasFamilyPrefix(key):
				w.name = appendName(w.name[:0], key)
				w.bounded(w.in.name(w.name), v)
			default:
				w.generic(key, v)
			}
		}
	})
}

func hasFamilyPrefix(key string) bool {
	for _, p := range detailsFamilyPrefixes {
		if strings.HasPrefix(key, p) {
			return true
		}
	}
	return false
}

// family adds member k of the family object named family as <family>_<k>.
func (w *details) family(family, k, v string) {
	w.name = appendName(append(append(w.name[:0], family...), '_'), k)
	w.bounded(w.in.name(w.name), v)
}

// bounded adds v as the field key (see text) unless the event has its share of generic
// fields already.
func (w *details) bounded(key, v string) {
	if v == "" || v == "null" {
		return
	}
	if w.added >= maxDetailsFields {
		w.cut++
		return
	}
	if w.text(key, v) {
		w.added++
	}
}

// shield walks additional_details.shield_alert.
func (w *details) shield(obj string) {
	eachMember(obj, func(key, v string) {
		fb := func() { w.shieldGeneric(key, v) }
		switch key {
		case "alert_id":
			w.integer("shield_alert_id", v, fb)
		case "risk_score":
			w.integer("shield_risk_score", v, fb)
		case "rule_id":
			w.integer("shield_rule_id", v, fb)
		case "rule_category":
			w.str("shield_rule_category", v, true, fb)
		case "rule_name":
			w.str("shield_rule_name", v, true, fb)
		case "priority":
			w.str("shield_priority", v, true, fb)
		case "user":
			if v == "" || v[0] != '{' {
				w.shieldGeneric(key, v)
				return
			}
			eachMember(v, func(k, uv string) {
				fb := func() { w.generic3("shield_alert", "user", k, uv) }
				switch k {
				case "id":
					w.str("shield_user_id", uv, true, fb)
				case "email", "login":
					w.str("shield_user_login", uv, true, fb)
				case "name":
					w.str("shield_user_name", uv, true, fb)
				default:
					fb()
				}
			})
		case "alert_summary":
			if v == "" || v[0] != '{' {
				w.shieldGeneric(key, v)
				return
			}
			eachMember(v, func(k, sv string) {
				fb := func() { w.generic3("shield_alert", key, k, sv) }
				switch k {
				case "download_delta_percent":
					w.integer("shield_download_delta_percent", sv, fb)
					return
				case "alert_activities", "download_ips":
					w.activity(firstElement(sv))
				case "sessions":
					w.activity(firstElement(member(firstElement(sv), "activities")))
				case "upload_activity":
					w.activity(sv)
				case "anomaly_period":
					if n := member(sv, "downloaded_files_count"); n != "" {
						w.integer("shield_download_count", n, nil)
					}
				}
				fb()
			})
		default:
			w.shieldGeneric(key, v)
		}
	})
}

// activity takes the address and the service of a Shield alert's first activity.
func (w *details) activity(a string) {
	if a == "" || a[0] != '{' {
		return
	}
	if !w.shieldIP {
		ip := member(member(a, "ip_info"), "ip")
		if ip == "" {
			ip = member(a, "ip")
		}
		if ip != "" && ip[0] == '"' {
			w.shieldIP = w.str("shield_ip", ip, true, nil)
		}
	}
	if !w.shieldSv {
		if sv := member(a, "service_name"); sv != "" && sv[0] == '"' {
			w.shieldSv = w.str("shield_service", sv, true, nil)
		}
	}
}

// generic adds the value v of the top-level key as details_<key>, flattening objects.
func (w *details) generic(key, v string) {
	w.name = appendName(append(w.name[:0], detailsPrefix...), key)
	w.flatten(v, 1)
}

// shieldGeneric adds the value v of shield_alert's key as details_shield_alert_<key>.
func (w *details) shieldGeneric(key, v string) {
	w.name = appendName(append(append(w.name[:0], detailsPrefix...), "shield_alert_"...), key)
	w.flatten(v, 2)
}

func (w *details) generic3(k1, k2, k3, v string) {
	w.name = appendName(append(appendName(append(appendName(append(w.name[:0], detailsPrefix...), k1), '_'), k2), '_'), k3)
	w.flatten(v, 3)
}

// appendName appends a key to a field name, each byte that is not an ASCII letter, a digit,
// '_', '-' or '.' as '_': field names stay plain words for line protocol and InfluxQL.
func appendName(name []byte, key string) []byte {
	for i := 0; i < len(key); i++ {
		c := key[i]
		if (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-' || c == '.' {
			name = append(name, c)
		} else {
			name = append(name, '_')
		}
	}
	return name
}

// flatten adds v under the name in w.name, which holds depth keys.
func (w *details) flatten(v string, depth int) {
	if v == "" || v == "null" {
		return
	}
	if v[0] == '{' && depth < maxDetailsDepth {
		n := len(w.name)
		eachMember(v, func(k, mv string) {
			w.name = appendName(append(w.name[:n], '_'), k)
			w.flatten(mv, depth+1)
		})
		w.name = w.name[:n]
		return
	}
	w.bounded(w.in.name(w.name), v)
}

// text adds v as the string field key: a JSON string's content, a number or a boolean as Box
// wrote it (2, 2.5, true), an array or an object as its compact JSON. Never the type of the
// value: Box writes one key as a number in one event and as a string in the next (ids), an
// integer or a fraction (1200, 1249.5), and InfluxDB refuses a point whose field has another
// type than before ("field type conflict"; outputs.influxdb drops the write, on InfluxDB 1.6
// with every other point of its batch). null adds nothing. It reports whether a field was
// added.
func (w *details) text(key, v string) bool {
	if v == "" || v[0] == 'n' || w.has(key) {
		return false
	}
	switch v[0] {
	case '"':
		w.m.appendField(key, unquote(v))
	case 't':
		w.m.appendField(key, "true") // a constant: boxed without allocating
	case 'f':
		w.m.appendField(key, "false")
	default:
		w.m.appendField(key, v)
	}
	return true
}

// str adds the lenient text of v (a string's content, a number's or a boolean's literal) as a
// string field; intern says whether the value is one that repeats. An object or an array is
// handed to fallback (when not nil) to be kept under its generic name. It reports whether a
// field was added.
func (w *details) str(key, v string, intern bool, fallback func()) bool {
	if v == "" || v[0] == 'n' || w.has(key) {
		return false
	}
	if v[0] == '{' || v[0] == '[' {
		if fallback != nil {
			fallback()
		}
		return false
	}
	s := v
	if v[0] == '"' {
		s = unquote(v)
	}
	if s == "" {
		return false
	}
	if intern {
		w.m.appendField(key, w.in.box(s))
	} else {
		w.m.appendField(key, s)
	}
	return true
}

// integer adds v as an int64 field: a JSON integer, or a string holding one. Anything else is
// handed to fallback (when not nil).
func (w *details) integer(key, v string, fallback func()) {
	if v == "" || v[0] == 'n' || w.has(key) {
		return
	}
	s := v
	if v[0] == '"' {
		s = unquote(v)
	}
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		w.m.appendField(key, n)
		return
	}
	if fallback != nil {
		fallback()
	}
}

// boolean adds v as a bool field: true or false, or a string holding one. Anything else is
// handed to fallback.
func (w *details) boolean(key, v string, fallback func()) {
	if v == "" || v[0] == 'n' || w.has(key) {
		return
	}
	s := v
	if v[0] == '"' {
		s = unquote(v)
	}
	if b, err := strconv.ParseBool(s); err == nil {
		w.m.appendField(key, b)
		return
	}
	fallback()
}

// unquote returns the content of the JSON string v.
func unquote(v string) string {
	if len(v) < 2 {
		return ""
	}
	if inner := v[1 : len(v)-1]; !strings.ContainsRune(inner, '\\') {
		return inner
	}
	var s string
	if json.Unmarshal([]byte(v), &s) != nil {
		return ""
	}
	return s
}

// eachMember calls fn with each key (unquoted) and raw value of the compact JSON object obj.
func eachMember(obj string, fn func(key, value string)) {
	if len(obj) < 2 || obj[0] != '{' {
		return
	}
	i := 1
	for i < len(obj) && obj[i] == '"' {
		kEnd := skipString(obj, i)
		if kEnd < 0 || kEnd >= len(obj) || obj[kEnd] != ':' {
			return
		}
		vEnd := skipValue(obj, kEnd+1)
		if vEnd < 0 {
			return
		}
		fn(unquote(obj[i:kEnd]), obj[kEnd+1:vEnd])
		if vEnd >= len(obj) || obj[vEnd] != ',' {
			return
		}
		i = vEnd + 1
	}
}

// member returns the raw value of key in the compact JSON object obj (the last, if repeated),
// "" when absent.
func member(obj, key string) string {
	var out string
	eachMember(obj, func(k, v string) {
		if k == key {
			out = v
		}
	})
	return out
}

// firstElement returns the first element of the compact JSON array arr, "" when there is none.
func firstElement(arr string) string {
	if len(arr) < 3 || arr[0] != '[' {
		return ""
	}
	end := skipValue(arr, 1)
	if end < 0 {
		return ""
	}
	return arr[1:end]
}

// skipString returns the index after the JSON string starting at s[i], or -1. It looks for
// quotes with strings.IndexByte (many bytes at a time) rather than at each byte: a quote ends
// the string unless an odd number of backslashes comes right before it.
func skipString(s string, i int) int {
	for j := i + 1; j < len(s); {
		k := strings.IndexByte(s[j:], '"')
		if k < 0 {
			return -1
		}
		q := j + k
		escaped := false
		for b := q - 1; b > i && s[b] == '\\'; b-- {
			escaped = !escaped
		}
		if !escaped {
			return q + 1
		}
		j = q + 1
	}
	return -1
}

// skipValue returns the index after the compact JSON value starting at s[i], or -1.
func skipValue(s string, i int) int {
	if i >= len(s) {
		return -1
	}
	switch s[i] {
	case '"':
		return skipString(s, i)
	case '{', '[':
		depth := 0
		for j := i; j < len(s); j++ {
			switch s[j] {
			case '"':
				end := skipString(s, j)
				if end < 0 {
					return -1
				}
				j = end - 1
			case '{', '[':
				depth++
			case '}', ']':
				if depth--; depth == 0 {
					return j + 1
				}
			}
		}
		return -1
	}
	j := i
	for j < len(s) && s[j] != ',' && s[j] != '}' && s[j] != ']' {
		j++
	}
	if j == i {
		return -1
	}
	return j
}
