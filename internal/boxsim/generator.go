package boxsim

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
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
type person struct{ id, name, login string }

func (p person) mini() map[string]any {
	return map[string]any{"type": "user", "id": p.id, "name": p.name, "login": p.login}
}

type folder struct {
	id, name string
	synced   bool
	owner    int // index into generator.users
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
// newGenerator; randomness comes from Server.eventRand.
type generator struct {
	users      []person
	anonymous  person
	folders    []folder
	files      []file
	userTypes  []weighted
	adminTypes []weighted
	zones      []*time.Location
	ips        []string
}

func newGenerator() generator {
	return generator{
		users: []person{
			{"11446498", "Aaron Levie", "ceo@example.com"},
			{"19283746", "Dana Whitfield", "dana.whitfield@example.com"},
			{"20485713", "Jörg Müller", "joerg.mueller@example.com"},
			{"31337042", "Priya Raman", "priya@example.com"},
			{"40961235", "Marcus O'Brien", "mobrien@example.com"},
			{"52873019", "Yuki Tanaka", "yuki.tanaka@example.com"},
			{"63019284", "Service Account", "AutomationUser_1234567_kT9x@boxdevedition.com"},
			{"74820165", "Chloé Dubois", "chloe.dubois@partner.example.org"},
		},
		anonymous: person{"2", "Unknown User", ""},
		folders: []folder{
			{"48202735", "Marketing", true, 1},
			{"51028211", "Finance Q3", false, 3},
			{"60347290", "Engineering", true, 2},
			{"73621549", "Legal & Compliance", false, 0},
			{"86123570", "Sales Decks", true, 4},
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
		batch = append(batch, s.userEventLocked(s.pickLocked(s.gen.userTypes)))
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
		batch = append(batch, s.enterpriseEventLocked(s.pickLocked(s.gen.adminTypes)))
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
		return s.appendEnterpriseLocked([]entry{s.enterpriseEventLocked(eventType)})[0]
	}
	return s.appendUserLocked([]entry{s.userEventLocked(eventType)})[0]
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

func (s *Server) pickLocked(types []weighted) string {
	total := 0
	for _, t := range types {
		total += t.weight
	}
	n := s.eventRand.IntN(total)
	for _, t := range types {
		if n -= t.weight; n < 0 {
			return t.eventType
		}
	}
	return types[len(types)-1].eventType
}

// userEventLocked builds a user-stream event of type t: 40-hex event_id, recorded_at,
// and the affected item (file, folder, comment, task or group) as source.
func (s *Server) userEventLocked(t string) entry {
	r, g := s.eventRand, &s.gen
	now := s.clock.Now().In(g.zones[r.IntN(len(g.zones))]).Truncate(time.Second)
	actor := g.users[r.IntN(len(g.users))]
	f := g.files[r.IntN(len(g.files))]

	var source any
	switch t {
	case "ITEM_CREATE", "ITEM_SYNC", "ITEM_UNSYNC", "COLLAB_ADD_COLLABORATOR",
		"COLLAB_INVITE_COLLABORATOR", "COLLAB_ROLE_CHANGE", "COLLAB_REMOVE_COLLABORATOR":
		source = s.folderSourceLocked(g.folders[r.IntN(len(g.folders))], now)
	case "COMMENT_CREATE":
		source = map[string]any{
			"type": "comment", "id": strconv.Itoa(100000000 + r.IntN(900000000)),
			"is_reply_comment": false, "message": "Looks good to me @" + actor.name,
			"created_by": actor.mini(), "created_at": now.Format(boxTime), "modified_at": now.Format(boxTime),
			"item": map[string]any{"type": "file", "id": f.id},
		}
	case "TASK_CREATE":
		source = map[string]any{
			"type": "task", "id": strconv.Itoa(100000000 + r.IntN(900000000)),
			"item":   map[string]any{"type": "file", "id": f.id, "name": f.name},
			"due_at": now.Add(72 * time.Hour).Format(boxTime), "action": "review",
			"message": "Please review", "is_completed": false,
			"created_by": actor.mini(), "created_at": now.Format(boxTime),
		}
	case "GROUP_ADD_USER":
		source = map[string]any{"type": "group", "id": "1122334", "name": "Sales EMEA", "group_type": "managed_group"}
	default:
		src := s.fileSourceLocked(f, actor, now)
		switch t {
		case "ITEM_TRASH":
			src["item_status"] = "trashed"
			src["trashed_at"] = now.Format(boxTime)
		case "ITEM_SHARED_CREATE":
			src["shared_link"] = map[string]any{
				"url": "https://app.box.com/s/" + randomToken(r, 32), "access": "open",
				"effective_access": "open", "is_password_enabled": false, "download_count": 0, "preview_count": 0,
			}
		}
		source = src
	}

	ev := map[string]any{
		"type":        "event",
		"event_id":    randomHex(r, 20),
		"created_by":  actor.mini(),
		"created_at":  now.Format(boxTime),
		"recorded_at": now.Add(time.Duration(r.IntN(4)) * time.Second).Format(boxTime),
		"event_type":  t,
		"session_id":  s.sessionIDLocked(),
		"source":      source,
	}
	if r.IntN(2) == 0 {
		ev["additional_details"] = nil
	}
	return s.finishLocked(ev)
}

// enterpriseEventLocked builds an admin_logs event of type t: UUID event_id,
// ip_address, and one of the source shapes seen in enterprise events.
func (s *Server) enterpriseEventLocked(t string) entry {
	r, g := s.eventRand, &s.gen
	now := s.clock.Now().In(g.zones[r.IntN(len(g.zones))]).Truncate(time.Second)
	actor := g.users[r.IntN(len(g.users))]
	f := g.files[r.IntN(len(g.files))]
	fo := g.folders[f.folder]
	owner := g.users[fo.owner]

	var source, details any
	switch t {
	case "LOGIN", "ADD_LOGIN_ACTIVITY_DEVICE":
		source = actor.mini()
		if t == "ADD_LOGIN_ACTIVITY_DEVICE" {
			details = map[string]any{"device_id": randomHex(r, 8), "device_name": "MacBook Pro", "device_type": "Mac"}
		}
	case "FAILED_LOGIN":
		victim := actor
		actor = g.anonymous
		if r.IntN(2) == 0 {
			actor.login = victim.login // the login that was attempted
		}
		source = victim.mini()
		details = map[string]any{"failure_reason": "Invalid password"}
	case "COLLABORATION_INVITE", "COLLABORATION_ACCEPT", "COLLABORATION_ROLE_CHANGE":
		invitee := g.users[r.IntN(len(g.users))]
		src := map[string]any{
			"user_id": invitee.id, "user_name": invitee.name,
			"parent": map[string]any{"type": "folder", "name": "All Files", "id": "0"}, "owned_by": owner.mini(),
		}
		if r.IntN(2) == 0 {
			src["folder_id"], src["folder_name"] = fo.id, fo.name
		} else {
			src["file_id"], src["file_name"] = f.id, f.name
		}
		source = src
		details = map[string]any{
			"collab_id": strconv.Itoa(30000000 + r.IntN(9000000)), "invitation_message": "",
			"is_performed_by_admin": r.IntN(4) == 0, "role": []string{"Editor", "Viewer", "Co-owner"}[r.IntN(3)],
			"type": "box://event/additional_details/collaboration",
		}
	case "GROUP_ADD_USER":
		source = map[string]any{"group_id": "1122334", "group_name": "Sales EMEA", "user_id": actor.id, "user_name": actor.name}
	case "ENTERPRISE_APP_AUTHORIZATION_UPDATE":
		source = map[string]any{"type": "application", "name": "Telegraf Box Events", "api_key": s.opts.ClientID}
	case "SHIELD_ALERT":
		actor = g.anonymous
		details = map[string]any{"shield_alert": map[string]any{
			"rule_category": "Suspicious Locations", "risk_score": 60 + r.IntN(40),
			"alert_summary": map[string]any{"description": "Access from an unusual location"},
			"link":          "https://app.box.com/master/shield/alerts/" + strconv.Itoa(1000+r.IntN(9000)),
			"user":          map[string]any{"id": owner.id, "name": owner.name, "login": owner.login},
		}}
	case "FUTURE_ENTERPRISE_ACTION":
		source = map[string]any{"barrier_id": "8812", "status": "pending", "created_at": now.Format(boxTime)}
		details = map[string]any{"type": "box://event/additional_details/future"}
	default: // item events
		itemType, id, name := "file", f.id, f.name
		switch n := r.IntN(20); {
		case n == 0:
			itemType, id, name = "folder", fo.id, fo.name
		case n == 1 && (t == "PREVIEW" || t == "SHARE"):
			itemType, id, name = "web_link", "4455667", "Box Developer Docs"
		}
		source = map[string]any{
			"item_type": itemType, "item_id": id, "item_name": name,
			"parent":   map[string]any{"type": "folder", "name": fo.name, "id": fo.id},
			"owned_by": owner.mini(),
		}
		switch t {
		case "UPLOAD", "EDIT":
			details = map[string]any{
				"size": f.size, "version_id": strconv.Itoa(800000000 + r.IntN(99999999)),
				"service_id": "5555", "service_name": "Box Sync for Mac",
			}
		case "SHARE":
			details = map[string]any{"shared_link_id": randomToken(r, 12), "size": f.size}
		case "PREVIEW", "DOWNLOAD":
			if r.IntN(10) == 0 {
				actor = g.anonymous // shared-link access by someone not logged in
			}
		}
	}

	ev := map[string]any{
		"type":               "event",
		"event_id":           s.uuidLocked(),
		"created_by":         actor.mini(),
		"created_at":         now.Format(boxTime),
		"event_type":         t,
		"ip_address":         g.ips[r.IntN(len(g.ips))],
		"session_id":         s.sessionIDLocked(),
		"source":             source,
		"additional_details": details,
		"action_by":          nil,
	}
	return s.finishLocked(ev)
}

// finishLocked adds an occasional odd shape (clients must be lenient), encodes the
// event and derives its stream membership as for a scripted event.
func (s *Server) finishLocked(ev map[string]any) entry {
	r := s.eventRand
	if r.IntN(20) == 0 {
		switch r.IntN(5) {
		case 0: // a numeric user id
			if cb, ok := ev["created_by"].(map[string]any); ok {
				cb["id"] = json.Number(cb["id"].(string)) // the digits, unquoted
			}
		case 1: // additional_details as a bare string, as some exports show it
			ev["additional_details"] = "legacy details string"
		case 2: // an empty source object
			ev["source"] = make(map[string]any)
		case 3: // no session_id at all
			delete(ev, "session_id")
		case 4: // created_by null, action_by set
			ev["action_by"] = s.gen.users[0].mini()
			ev["created_by"] = nil
		}
	}
	raw, err := json.Marshal(ev)
	if err != nil {
		panic(fmt.Sprintf("boxsim: generated event does not encode: %v", err))
	}
	e, err := parseEvent(raw, s.clock.Now())
	if err != nil {
		panic(fmt.Sprintf("boxsim: generated event is invalid: %v", err))
	}
	return e
}

// fileSourceLocked is a file object as user events carry it. The parent's sync_state
// marks files in synced folders (what puts an event in the sync stream).
func (s *Server) fileSourceLocked(f file, modifier person, now time.Time) map[string]any {
	g := &s.gen
	fo := g.folders[f.folder]
	owner := g.users[fo.owner]
	created := now.Add(-time.Duration(1+s.eventRand.IntN(90*24)) * time.Hour).Format(boxTime)
	return map[string]any{
		"type": "file", "id": f.id, "sequence_id": "3", "etag": "3",
		"sha1": randomHex(s.eventRand, 20), "name": f.name, "description": "", "size": f.size,
		"path_collection": map[string]any{"total_count": 2, "entries": []any{rootFolder(), folderMini(fo)}},
		"created_at":      created, "modified_at": now.Format(boxTime),
		"content_created_at": created, "content_modified_at": now.Format(boxTime),
		"trashed_at": nil, "purged_at": nil, "shared_link": nil,
		"created_by": owner.mini(), "modified_by": modifier.mini(), "owned_by": owner.mini(),
		"parent": folderMini(fo), "item_status": "active",
		"file_version": map[string]any{"type": "file_version", "id": strconv.Itoa(900000000 + s.eventRand.IntN(99999999))},
	}
}

// folderSourceLocked is a folder object as user events carry it, with sync_state.
func (s *Server) folderSourceLocked(fo folder, now time.Time) map[string]any {
	owner := s.gen.users[fo.owner]
	src := folderMini(fo)
	for k, v := range map[string]any{
		"created_at": now.Add(-400 * 24 * time.Hour).Format(boxTime), "modified_at": now.Format(boxTime),
		"description": "", "size": 10485760 + s.eventRand.IntN(1<<30),
		"path_collection": map[string]any{"total_count": 1, "entries": []any{rootFolder()}},
		"created_by":      owner.mini(), "modified_by": owner.mini(), "owned_by": owner.mini(),
		"shared_link": nil, "folder_upload_email": nil, "parent": rootFolder(), "item_status": "active",
	} {
		src[k] = v
	}
	return src
}

func folderMini(fo folder) map[string]any {
	state := "not_synced"
	if fo.synced {
		state = "synced"
	}
	return map[string]any{"type": "folder", "id": fo.id, "sequence_id": "0", "etag": "0", "name": fo.name, "sync_state": state}
}

func rootFolder() map[string]any {
	return map[string]any{"type": "folder", "id": "0", "sequence_id": nil, "etag": nil, "name": "All Files"}
}

// sessionIDLocked returns a session id, or nil (JSON null) as Box often sends.
func (s *Server) sessionIDLocked() any {
	if s.eventRand.IntN(4) == 0 {
		return nil
	}
	return randomHex(s.eventRand, 11)
}

// uuidLocked returns a random version 4 UUID, the enterprise event_id format.
func (s *Server) uuidLocked() string {
	var b [16]byte
	for i := range b {
		b[i] = byte(s.eventRand.Uint32())
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}
