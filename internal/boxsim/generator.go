package boxsim

import (
	"context"
	"math/rand/v2"
	"time"
)

// isChangeEventType reports whether a user event may change the file tree, which puts
// it in the changes stream (stream-types.md).
func isChangeEventType(t string) bool {
	switch t {
	case "ITEM_CREATE", "ITEM_UPLOAD", "ITEM_MOVE", "ITEM_COPY", "ITEM_TRASH",
		"ITEM_UNDELETE_VIA_TRASH", "ITEM_RENAME", "ITEM_MAKE_CURRENT_VERSION", "ITEM_MODIFY",
		"LOCK_CREATE", "LOCK_DESTROY", "ITEM_SYNC", "ITEM_UNSYNC",
		"COLLAB_ADD_COLLABORATOR", "COLLAB_ROLE_CHANGE", "COLLAB_INVITE_COLLABORATOR",
		"COLLAB_REMOVE_COLLABORATOR":
		return true
	}
	return false
}

// person is a Box user; its mini form is created_by, owned_by and the like.
type person struct {
	id, name, login string
	mini            string // the mini form as JSON, written once (see newPerson)
}

// newPerson returns a person with its mini form written out, which generated events
// copy rather than write again. Changing a copy's fields requires clearing mini.
func newPerson(id, name, login string) person {
	p := person{id: id, name: name, login: login}
	var w jsonw
	w.person("", p, false)
	p.mini = string(w.done())
	return p
}

type folder struct {
	id, name string
	synced   bool
	owner    int    // index into generator.users
	mini     string // the mini form as JSON (see newFolder)
}

// newFolder returns a folder with its mini form written out.
func newFolder(id, name string, synced bool, owner int) folder {
	fo := folder{id: id, name: name, synced: synced, owner: owner}
	var w jsonw
	w.folderMini("", fo)
	fo.mini = string(w.done())
	return fo
}

type file struct {
	id, name string
	size     int
	folder   int // index into generator.folders
}

type weighted struct {
	eventType string
	weight    int
}

// generator holds the pools realistic events are drawn from. It is read-only after
// newGenerator; randomness comes from the caller (Server.eventRand for emitted events, a
// source seeded per index for synthetic backlogs).
type generator struct {
	clientID   string // the api_key of ENTERPRISE_APP_AUTHORIZATION_UPDATE's application
	users      []person
	anonymous  person
	folders    []folder
	files      []file
	userTypes  []weighted
	adminTypes []weighted
	zones      []*time.Location
	ips        []string
}

func newGenerator(clientID string) generator {
	return generator{
		clientID: clientID,
		users: []person{
			newPerson("11446498", "Aaron Levie", "ceo@example.com"),
			newPerson("19283746", "Dana Whitfield", "dana.whitfield@example.com"),
			newPerson("20485713", "Jörg Müller", "joerg.mueller@example.com"),
			newPerson("31337042", "Priya Raman", "priya@example.com"),
			newPerson("40961235", "Marcus O'Brien", "mobrien@example.com"),
			newPerson("52873019", "Yuki Tanaka", "yuki.tanaka@example.com"),
			newPerson("63019284", "Service Account", "AutomationUser_1234567_kT9x@boxdevedition.com"),
			newPerson("74820165", "Chloé Dubois", "chloe.dubois@partner.example.org"),
		},
		anonymous: newPerson("2", "Unknown User", ""),
		folders: []folder{
			newFolder("48202735", "Marketing", true, 1),
			newFolder("51028211", "Finance Q3", false, 3),
			newFolder("60347290", "Engineering", true, 2),
			newFolder("73621549", "Legal & Compliance", false, 0),
			newFolder("86123570", "Sales Decks", true, 4),
		},
		files: []file{
			{"1203894751", "Contract.pdf", 629644, 3},
			{"1203894752", "Roadmap 2025.pptx", 4833121, 2},
			{"1203894753", "budget.xlsx", 88213, 1},
			{"1203894754", "notes.txt", 1204, 2},
			{"1203894755", "IMG_2041.jpg", 2201923, 0},
			{"1203894756", "Ünïcödé résumé.docx", 51230, 0},
			{"1203894757", `design "final" v2.sketch`, 9912345, 2},
			{"1203894758", "Q3 forecast.xlsx", 120455, 1},
			{"1203894759", "NDA - Acme Corp.pdf", 310022, 3},
			{"1203894760", "pitch.key", 15022311, 4},
			{"1203894761", "release-notes.md", 8812, 2},
			{"1203894762", "brand-guidelines.pdf", 7712009, 0},
		},
		userTypes: []weighted{
			{"ITEM_UPLOAD", 10}, {"ITEM_DOWNLOAD", 10}, {"ITEM_PREVIEW", 10},
			{"ITEM_CREATE", 3}, {"ITEM_MOVE", 3}, {"ITEM_COPY", 2}, {"ITEM_RENAME", 3},
			{"ITEM_TRASH", 3}, {"ITEM_UNDELETE_VIA_TRASH", 1}, {"ITEM_MAKE_CURRENT_VERSION", 1},
			{"LOCK_CREATE", 1}, {"LOCK_DESTROY", 1}, {"ITEM_SYNC", 1}, {"ITEM_UNSYNC", 1},
			{"COLLAB_ADD_COLLABORATOR", 2}, {"COLLAB_INVITE_COLLABORATOR", 1},
			{"COLLAB_ROLE_CHANGE", 1}, {"COLLAB_REMOVE_COLLABORATOR", 1},
			{"COMMENT_CREATE", 2}, {"ITEM_SHARED_CREATE", 2}, {"ITEM_SHARED_UNSHARE", 1},
			{"TASK_CREATE", 1}, {"GROUP_ADD_USER", 1}, {"TAG_ITEM_CREATE", 1},
			{"ITEM_FUTURE_ACTION", 1}, // not a known type: clients must pass it through
		},
		adminTypes: []weighted{
			{"LOGIN", 10}, {"FAILED_LOGIN", 3}, {"UPLOAD", 10}, {"DOWNLOAD", 10}, {"PREVIEW", 10},
			{"DELETE", 3}, {"EDIT", 3}, {"COPY", 1}, {"MOVE", 1}, {"RENAME", 1}, {"LOCK", 1},
			{"UNLOCK", 1}, {"SHARE", 3}, {"COLLABORATION_INVITE", 2}, {"COLLABORATION_ACCEPT", 1},
			{"COLLABORATION_ROLE_CHANGE", 1}, {"GROUP_ADD_USER", 1}, {"ADD_LOGIN_ACTIVITY_DEVICE", 1},
			{"ENTERPRISE_APP_AUTHORIZATION_UPDATE", 1}, {"SHIELD_ALERT", 1},
			{"ITEM_SHARED_UPDATE", 1}, {"CHANGE_ADMIN_ROLE", 1},
			{"FUTURE_ENTERPRISE_ACTION", 1}, // not a known type
		},
		zones: []*time.Location{
			time.FixedZone("PST", -8*3600), time.FixedZone("PDT", -7*3600), time.FixedZone("UTC", 0),
		},
		ips: []string{"81.2.69.144", "175.16.199.14", "2a02:cf40::1", "10.20.30.40", "Unknown IP", "UnknownIP"},
	}
}

// boxTime is created_at's layout: RFC 3339 at second precision, always a numeric offset.
const boxTime = "2006-01-02T15:04:05-07:00"

// EmitUser adds n generated user events (a realistic mix from a pool of users, files
// and folders, with occasional unknown types and odd shapes) and returns them as served
// by stream "all".
func (s *Server) EmitUser(n int) []Event {
	s.mu.Lock()
	defer s.mu.Unlock()
	batch := make([]entry, 0, n)
	for range n {
		batch = append(batch, s.emittedLocked(false, pick(s.eventRand, s.gen.userTypes)))
	}
	return s.appendUserLocked(batch)
}

// EmitEnterprise adds n generated enterprise events to admin_logs and
// admin_logs_streaming and returns them as served by admin_logs.
func (s *Server) EmitEnterprise(n int) []Event {
	s.mu.Lock()
	defer s.mu.Unlock()
	batch := make([]entry, 0, n)
	for range n {
		batch = append(batch, s.emittedLocked(true, pick(s.eventRand, s.gen.adminTypes)))
	}
	return s.appendEnterpriseLocked(batch)
}

// Emit adds n generated user events and n generated enterprise events.
func (s *Server) Emit(n int) {
	s.EmitUser(n)
	s.EmitEnterprise(n)
}

// EmitType adds one generated event of eventType to stream's log (the user log for
// all, changes and sync; both enterprise logs otherwise) and returns it as served by
// "all" or "admin_logs". A user event lands in changes or sync only if its type and
// folder put it there.
func (s *Server) EmitType(stream Stream, eventType string) Event {
	s.mu.Lock()
	defer s.mu.Unlock()
	if stream.Enterprise() {
		return s.appendEnterpriseLocked([]entry{s.emittedLocked(true, eventType)})[0]
	}
	return s.appendUserLocked([]entry{s.emittedLocked(false, eventType)})[0]
}

// StartGenerator emits a few user and enterprise events every interval on the clock
// until ctx is done or the server closes. It is live traffic for the -demo mode.
func (s *Server) StartGenerator(ctx context.Context, every time.Duration) {
	if every <= 0 {
		every = time.Second
	}
	ticker := s.clock.Ticker(every)
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		defer ticker.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-s.done:
				return
			case <-ticker.C:
				s.mu.Lock()
				users, admins := 1+s.eventRand.IntN(3), 1+s.eventRand.IntN(4)
				s.mu.Unlock()
				s.EmitUser(users)
				s.EmitEnterprise(admins)
			}
		}
	}()
}

// emittedLocked draws an event of type t from Server.eventRand, created now on the
// clock, and stores it as a scripted event would be.
func (s *Server) emittedLocked(enterprise bool, t string) entry {
	var ev genEvent
	s.gen.draw(&ev, s.eventRand, enterprise, t, s.clock.Now())
	w := jsonw{b: make([]byte, 0, 1024)}
	raw := s.gen.appendEvent(&w, &ev)
	e, err := parseEvent(raw, s.clock.Now())
	if err != nil {
		panic("boxsim: generated event is invalid: " + err.Error())
	}
	return e
}

// pick draws an event type by weight.
func pick(r *rand.Rand, types []weighted) string {
	total := 0
	for _, t := range types {
		total += t.weight
	}
	n := r.IntN(total)
	for _, t := range types {
		if n -= t.weight; n < 0 {
			return t.eventType
		}
	}
	return types[len(types)-1].eventType
}
