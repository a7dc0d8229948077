package pipeline

import "strconv"

// attrSet builds "attributes": input members keep their names; a clash
// gets a suffix (_2, _3, ...) so nothing is lost; kt's own markers take
// their reserved names and move an input member of that name aside.
type attrSet struct {
	kids []member
	idx  map[string]struct{}
}

func (a *attrSet) has(key string) bool {
	if a.idx != nil {
		_, ok := a.idx[key]
		return ok
	}
	for i := range a.kids {
		if !a.kids[i].dup && a.kids[i].key == key {
			return true
		}
	}
	return false
}

func (a *attrSet) put(m member) {
	a.kids = append(a.kids, m)
	if m.dup {
		return
	}
	if a.idx == nil && len(a.kids) > 32 {
		a.idx = make(map[string]struct{}, 64)
		for i := range a.kids {
			if !a.kids[i].dup {
				a.idx[a.kids[i].key] = struct{}{}
			}
		}
	}
	if a.idx != nil {
		a.idx[m.key] = struct{}{}
	}
}

func (a *attrSet) free(key string) string {
	if !a.has(key) {
		return key
	}
	for i := 2; ; i++ {
		k := key + "_" + strconv.Itoa(i)
		if !a.has(k) {
			return k
		}
	}
}

func (a *attrSet) addInput(m member) {
	if !m.dup {
		m.key = a.free(m.key)
	}
	a.put(m)
}

func (a *attrSet) addOwn(key string, v value) {
	if a.has(key) {
		nk := a.free(key)
		for i := range a.kids {
			if !a.kids[i].dup && a.kids[i].key == key {
				a.kids[i].key = nk
				if a.idx != nil {
					a.idx[nk] = struct{}{}
				}
				break
			}
		}
	}
	a.put(member{key: key, v: v})
}
