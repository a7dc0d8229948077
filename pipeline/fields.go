package pipeline

import (
	"strings"
)

// idText turns an id given as a number into its text, marked so that its
// path is listed in attributes.kt_numbers_as_strings; a string is kept.
// ok is false for any other kind.
func idText(v *value, st *state) (value, bool) {
	switch v.kind {
	case kString:
		return *v, true
	case kNumber:
		st.nBig++
		return value{kind: kString, s: v.s, flag: flagBigNumber | flagPlain}, true
	}
	return value{}, false
}

// optID adds an optional id field, given as a string or a number.
func optID(out *[]member, key string, v *value, st *state) error {
	if v == nil || v.kind == kNull {
		return nil
	}
	t, ok := idText(v, st)
	if !ok {
		return mustBe(key, "a string or a number")
	}
	*out = append(*out, member{key: key, v: t})
	return nil
}

// target adds "target": an object {type, id, name} (other members kept),
// or a bare string or number, which is its id.
func target(out *[]member, v *value, st *state) error {
	if v == nil || v.kind == kNull {
		return nil
	}
	switch v.kind {
	case kObject:
		for i := range v.kids {
			m := &v.kids[i]
			if m.dup || m.v.kind == kNull {
				continue
			}
			switch m.key {
			case "type":
				if !isText(&m.v) {
					return mustBe("target.type", "a string")
				}
				if err := checkName("target.type", m.v.s); err != nil {
					return err
				}
			case "id":
				t, ok := idText(&m.v, st)
				if !ok {
					return mustBe("target.id", "a string or a number")
				}
				m.v = t
			case "name":
				if m.v.kind != kString {
					return mustBe("target.name", "a string")
				}
			}
		}
		*out = append(*out, member{key: "target", v: *v})
	case kString, kNumber:
		t, _ := idText(v, st)
		*out = append(*out, member{key: "target", v: value{kind: kObject, kids: []member{{key: "id", v: t}}}})
	default:
		return mustBe("target", "an object")
	}
	return nil
}

// actor builds the actor object and takes ip/user_agent from request.* or
// the top level when the actor lacks them; what is not moved stays for
// attributes. type is mapped to the known vocabulary where a mapping says
// so (the input kept in st), else kept as given and counted; id may be a
// number.
func (n *Normalizer) actor(w *work, in *input, extras *[]member, st *state) (value, error) {
	if in.actor == nil || in.actor.kind == kNull {
		return value{}, missing("actor")
	}
	a := value{kind: kObject, kids: w.actor[:0]}
	defer func() { w.actor = a.kids }()
	switch in.actor.kind {
	case kString:
		if in.actor.s == "" {
			return value{}, missing("actor")
		}
		a.kids = append(a.kids, member{key: "id", v: *in.actor}, member{key: "type", v: str("user")})
	case kObject:
		hasType, hasID := false, false
		for i := range in.actor.kids {
			m := in.actor.kids[i]
			if !m.dup {
				switch m.key {
				case "type", "id", "name", "ip", "user_agent":
					if m.v.kind == kNull {
						continue
					}
					switch m.key {
					case "type":
						if !isText(&m.v) {
							return value{}, mustBe("actor.type", "a string")
						}
						if m.v.s == "" {
							continue // as if absent
						}
						if err := checkName("actor.type", m.v.s); err != nil {
							return value{}, err
						}
						if !knownActorTypeExact(m.v.s) {
							if known, ok := n.actorType.lookup(m.v.s); !ok {
								n.unmapped[1].add(m.v.s)
							} else if known != m.v.s {
								input := m.v
								st.actorTypeInput = &input
								m.v = plainStr(known)
							}
						}
						hasType = true
					case "id":
						t, ok := idText(&m.v, st)
						if !ok {
							return value{}, mustBe("actor.id", "a string or a number")
						}
						m.v = t
						hasID = hasID || m.v.s != ""
					default:
						if m.v.kind != kString {
							return value{}, mustBe("actor."+m.key, "a string")
						}
						if m.key == "name" {
							hasID = hasID || m.v.s != ""
						}
					}
				}
			}
			a.kids = append(a.kids, m)
		}
		if !hasID {
			return value{}, missing("actor.id")
		}
		if !hasType {
			a.kids = append(a.kids, member{key: "type", plain: true, v: plainStr("user")})
		}
	default:
		return value{}, mustBe("actor", "an object or a string")
	}
	// ip and user_agent
	take := func(key string, v *value) bool {
		if v == nil || v.kind != kString || v.s == "" || a.get(key) != nil {
			return false
		}
		a.kids = append(a.kids, member{key: key, v: *v})
		return true
	}
	if in.request != nil {
		kept := w.request[:0]
		for i := range in.request.kids {
			m := &in.request.kids[i]
			if !m.dup && (m.key == "ip" || m.key == "user_agent") && take(m.key, &m.v) {
				continue
			}
			kept = append(kept, *m)
		}
		w.request = kept
		if len(kept) > 0 {
			*extras = append(*extras, member{key: "request", v: value{kind: kObject, kids: kept}})
		}
	}
	for _, c := range []struct {
		key, into string
		v         *value
	}{{"ip", "ip", in.ip}, {"source_ip", "ip", in.sourceIP}, {"user_agent", "user_agent", in.userAgent}} {
		if c.v == nil {
			continue
		}
		if !take(c.into, c.v) {
			*extras = append(*extras, member{key: c.key, v: *c.v})
		}
	}
	return a, nil
}

// categoryOf returns the event's category and sets ev.Category: inferred
// from the action when absent; a known value as it is; a value a mapping
// covers mapped (the input kept in st); any other name kept as given and
// counted. "ledger" is refused.
func (n *Normalizer) categoryOf(in *input, ev *Event, st *state) (value, error) {
	c := in.category
	if c == nil || c.kind == kNull || (c.kind == kString && c.s == "") {
		ev.Category = inferCategory(in.action.s)
		return plainStr(ev.Category), nil
	}
	if !isText(c) {
		return value{}, mustBe("category", "a string")
	}
	if err := checkName("category", c.s); err != nil {
		return value{}, err
	}
	if reservedCategory(c.s) {
		return value{}, &FieldError{Field: "category", Reason: "reserved for kt's own ledger records"}
	}
	if known := knownCategoryExact(c.s); known != "" {
		ev.Category = known // a constant: no copy of the input needed
		return plainStr(known), nil
	}
	known, ok := n.category.lookup(c.s)
	if !ok {
		n.unmapped[0].add(c.s)
		ev.Category = strings.Clone(c.s)
		return *c, nil
	}
	if known != c.s {
		st.categoryInput = c
	}
	ev.Category = known
	return plainStr(known), nil
}

var categoryPrefixes = []struct{ prefix, category string }{
	{"auth.", "authentication"},
	{"member.", "user_management"},
	{"user.", "user_management"},
	{"role.", "user_management"},
	{"team.", "team_management"},
	{"config.", "configuration"},
	{"gateway.", "gateway"},
	{"policy.", "policy"},
	{"secret.", "secret"},
	{"export.", "export_job"},
	{"export_job.", "export_job"},
	{"escalation.", "escalation"},
}

func inferCategory(action string) string {
	for _, p := range categoryPrefixes {
		if strings.HasPrefix(action, p.prefix) {
			return p.category
		}
	}
	return CategoryOther
}

// outcomeOf returns the event's outcome: success when absent; success or
// failure for their synonyms and for true/false (the input kept in st);
// any other name kept as given and counted.
func (n *Normalizer) outcomeOf(v *value, st *state) (value, error) {
	if v == nil || v.kind == kNull || (v.kind == kString && v.s == "") {
		return plainStr("success"), nil
	}
	switch {
	case v.kind == kTrue:
		st.outcomeInput = v
		return plainStr("success"), nil
	case v.kind == kFalse:
		st.outcomeInput = v
		return plainStr("failure"), nil
	case !isText(v):
		return value{}, mustBe("outcome", "a string or a boolean")
	}
	if err := checkName("outcome", v.s); err != nil {
		return value{}, err
	}
	o, ok := canonicalOutcome(v.s)
	if !ok {
		n.unmapped[2].add(v.s)
		return *v, nil
	}
	if o != v.s {
		st.outcomeInput = v
	}
	return plainStr(o), nil
}

// canonicalOutcome maps the synonyms of success and failure (ASCII case
// aside).
func canonicalOutcome(s string) (string, bool) {
	switch strings.ToLower(s) {
	case "success", "ok", "succeeded", "successful", "allowed", "allow", "pass", "passed":
		return "success", true
	case "failure", "failed", "fail", "error", "denied", "deny", "rejected", "forbidden":
		return "failure", true
	}
	return "", false
}

// knownActorTypeExact and knownCategoryExact recognise a known value
// written as it is, without a map look-up.
func knownActorTypeExact(s string) bool {
	switch s {
	case "user", "api_token", "system":
		return true
	}
	return false
}

func knownCategoryExact(s string) string {
	switch s {
	case "authentication":
		return "authentication"
	case "user_management":
		return "user_management"
	case "team_management":
		return "team_management"
	case "configuration":
		return "configuration"
	case "gateway":
		return "gateway"
	case "policy":
		return "policy"
	case "secret":
		return "secret"
	case "export_job":
		return "export_job"
	case "escalation":
		return "escalation"
	case CategoryOther:
		return CategoryOther
	}
	return ""
}
