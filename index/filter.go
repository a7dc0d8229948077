package index

import "time"

// Filter selects events of the index. Zero fields select everything; set
// fields must all match (AND). String matches are exact and
// case-sensitive, except Action with a trailing ".*" (a prefix: "config.*"
// matches "config.update" and "config.rules.delete", not "configx") and
// Actor (the actor's id or name).
type Filter struct {
	Actor      string    // actor id or name
	ActorType  string    // user, api_token, system (as recorded)
	Action     string    // exact, or a prefix ending in ".*"
	Category   string    // category
	TargetType string    // target type
	TargetID   string    // target id
	Outcome    string    // success, failure, ...
	Org        string    // org_id
	From       time.Time // inclusive; the event's time
	To         time.Time // exclusive
	// Text is free text: words and "quoted phrases", each of which must
	// appear in the event's actor, action, category, outcome, reason,
	// target, org or the member names of its changes (text.go).
	Text string
}
