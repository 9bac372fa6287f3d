package boxsim

import (
	"math/rand/v2"
	"time"
)

// Odd shapes a generated event takes now and then (one in twenty), so clients must be
// lenient.
const (
	oddNone         = -1
	oddNumericID    = 0 // created_by.id as a bare number
	oddDetailsText  = 1 // additional_details as a bare string, as some exports show it
	oddEmptySource  = 2 // source {}
	oddNoSession    = 3 // no session_id at all
	oddNullCreator  = 4 // created_by null, action_by set
	oddShapeOneIn   = 20
	oddShapeChoices = 5
)

// Enterprise item kinds (genEvent.itemKind).
const (
	itemFile = iota
	itemFolder
	itemWebLink
)

// genEvent is one generated event, user or enterprise: every random choice, drawn by
// generator.draw, and then written by generator.appendEvent. Emitted events
// (EmitUser, EmitEnterprise, EmitType, StartGenerator) draw from Server.eventRand and
// synthetic backlogs from a source seeded by the event's index, so both paths have
// the same shapes. Traffic and scenarios (traffic.go, scenario.go) choose the fields
// themselves and are written by the same appendEvent.
type genEvent struct {
	enterprise bool
	eventType  string
	now        time.Time // created_at: in the event's zone, at second precision
	actor      person    // created_by, unless odd
	file       file      // the file the event is about
	folder     folder    // the file's folder, or a user event's folder source
	owner      person    // the folder's owner
	other      person    // collaboration invitee (enterprise)
	odd        int       // oddNone or one of the odd shapes

	id        [20]byte // 40 hex digits (user), or a UUID in the first 16 bytes
	noSession bool     // session_id null
	session   [11]byte

	// user events
	recordedLag  int  // seconds from created_at to recorded_at
	detailsNull  bool // additional_details present as null
	folderSize   int
	objectID     int // comment or task id
	createdHours int // the file's age
	fileVersion  int
	sha1         [20]byte
	token        [32]byte // shared link (user: 32 characters; enterprise: 12)

	// enterprise events
	ip         string
	device     [8]byte
	folderSide bool // collaboration on the folder rather than the file
	collabID   int
	byAdmin    bool
	role       int
	riskScore  int
	alertID    int
	itemKind   int
	versionID  int

	// Set by traffic and scenarios (traffic.go), or drawn for a few types. Zero values
	// are what a randomly drawn event of the other types carries.
	access    int       // shared link access: linkAccesses[access]
	service   int       // the app an item event went through: services[service]
	viaLink   bool      // an item event through a shared link: shared_link_id in details
	adminRole string    // CHANGE_ADMIN_ROLE: the role the source user has now
	group     group     // GROUP_ADD_USER: zero means the simulator's Sales EMEA group
	app       app       // ENTERPRISE_APP_AUTHORIZATION_UPDATE: zero means our own app
	shield    shieldHit // SHIELD_ALERT
}

// group is a Box group as group events name it.
type group struct{ id, name string }

// app is an application as ENTERPRISE_APP_AUTHORIZATION_UPDATE names it.
type app struct{ name, apiKey string }

// Shared link access levels (File.shared_link.access).
var linkAccesses = [...]string{"open", "company", "collaborators"}

// services are the apps item events go through (additional_details service_id and
// service_name); the first is the one the simulator always named.
var services = [...]struct{ id, name string }{
	{"5555", "Box Sync for Mac"},
	{"1041", "Box Web App"},
	{"2211", "Box Drive"},
	{"3187", "Box for iOS"},
}

// draw fills ev with an event of type t created at (in a zone it draws), drawing
// every random choice from r.
func (g *generator) draw(ev *genEvent, r *rand.Rand, enterprise bool, t string, at time.Time) {
	*ev = genEvent{enterprise: enterprise, eventType: t, odd: oddNone}
	ev.now = at.In(g.zones[r.IntN(len(g.zones))]).Truncate(time.Second)
	ev.actor = g.users[r.IntN(len(g.users))]
	ev.file = g.files[r.IntN(len(g.files))]
	if enterprise {
		g.drawEnterprise(ev, r)
	} else {
		g.drawUser(ev, r)
	}
	if r.IntN(oddShapeOneIn) == 0 {
		ev.odd = r.IntN(oddShapeChoices)
	}
}

func (g *generator) drawUser(ev *genEvent, r *rand.Rand) {
	switch userSourceOf(ev.eventType) {
	case userSourceFolder:
		ev.folder = g.folders[r.IntN(len(g.folders))]
		ev.folderSize = 10485760 + r.IntN(1<<30)
	case userSourceComment, userSourceTask:
		ev.objectID = 100000000 + r.IntN(900000000)
	case userSourceGroup:
	default:
		ev.folder = g.folders[ev.file.folder]
		ev.createdHours = 1 + r.IntN(90*24)
		randomBytes(r, ev.sha1[:])
		ev.fileVersion = 900000000 + r.IntN(99999999)
		if ev.eventType == "ITEM_SHARED_CREATE" {
			randomTokenBytes(r, ev.token[:32])
			ev.access = r.IntN(len(linkAccesses))
		}
	}
	ev.owner = g.users[ev.folder.owner]
	randomBytes(r, ev.id[:20])
	ev.recordedLag = r.IntN(4)
	g.drawSession(ev, r)
	ev.detailsNull = r.IntN(2) == 0
}

func (g *generator) drawEnterprise(ev *genEvent, r *rand.Rand) {
	ev.folder = g.folders[ev.file.folder]
	ev.owner = g.users[ev.folder.owner]
	switch t := ev.eventType; t {
	case "LOGIN":
	case "ADD_LOGIN_ACTIVITY_DEVICE":
		randomBytes(r, ev.device[:])
	case "FAILED_LOGIN":
		ev.other = ev.actor // the victim
		ev.actor = g.anonymous
		if r.IntN(2) == 0 {
			ev.actor.login = ev.other.login // the login that was attempted
			ev.actor.mini = ""
		}
	case "COLLABORATION_INVITE", "COLLABORATION_ACCEPT", "COLLABORATION_ROLE_CHANGE":
		ev.other = g.users[r.IntN(len(g.users))]
		ev.folderSide = r.IntN(2) == 0
		ev.collabID = 30000000 + r.IntN(9000000)
		ev.byAdmin = r.IntN(4) == 0
		ev.role = r.IntN(len(collabRoles))
	case "GROUP_ADD_USER", "ENTERPRISE_APP_AUTHORIZATION_UPDATE", "FUTURE_ENTERPRISE_ACTION":
	case "CHANGE_ADMIN_ROLE":
		ev.actor = g.users[0] // the enterprise's admin
		ev.other = g.users[1+r.IntN(len(g.users)-1)]
		ev.adminRole = adminRoles[r.IntN(len(adminRoles))]
	case "SHIELD_ALERT":
		ev.actor = g.anonymous
		ev.riskScore = 5 + r.IntN(95)
		ev.alertID = 1000 + r.IntN(9000)
		ev.shield.category = r.IntN(len(shieldRules))
		ev.shield.baseline = r.IntN(40)
		ev.shield.files = 60 + r.IntN(900)
		randomBytes(r, ev.sha1[:]) // a Malicious Content alert's file
		ev.fileVersion = 900000000 + r.IntN(99999999)
		ev.shield.ip = shieldIPs[r.IntN(len(shieldIPs))]
	default: // item events
		switch n := r.IntN(20); {
		case n == 0:
			ev.itemKind = itemFolder
		case n == 1 && (t == "PREVIEW" || t == "SHARE"):
			ev.itemKind = itemWebLink
		}
		switch t {
		case "UPLOAD", "EDIT":
			ev.versionID = 800000000 + r.IntN(99999999)
		case "SHARE", "ITEM_SHARED_UPDATE":
			randomTokenBytes(r, ev.token[:12])
		case "PREVIEW", "DOWNLOAD":
			if r.IntN(10) == 0 {
				ev.actor = g.anonymous // shared-link access by someone not logged in
				ev.viaLink = true
				randomTokenBytes(r, ev.token[:12])
			}
			ev.versionID = 800000000 + r.IntN(99999999)
			ev.service = 1 + r.IntN(len(services)-1)
		}
	}
	randomBytes(r, ev.id[:16])
	ev.id[6] = ev.id[6]&0x0f | 0x40 // version 4
	ev.id[8] = ev.id[8]&0x3f | 0x80 // RFC 4122 variant
	ev.ip = g.ips[r.IntN(len(g.ips))]
	g.drawSession(ev, r)
}

// drawSession draws a session id, or null as Box often sends.
func (*generator) drawSession(ev *genEvent, r *rand.Rand) {
	if r.IntN(4) == 0 {
		ev.noSession = true
		return
	}
	randomBytes(r, ev.session[:])
}

var collabRoles = [...]string{"Editor", "Viewer", "Co-owner"}

// shieldIPs are where the activities of drawn Shield alerts come from.
var shieldIPs = [...]string{"175.16.199.14", "81.2.69.144", "216.160.83.58", "203.0.113.77"}

// adminRoles are the values of a user's role (User--Full.role) in Box.
var adminRoles = [...]string{"coadmin", "user", "admin"}

// isCollaboration reports whether an enterprise event is about a collaboration, whose
// invitee Box names in accessible_by.
func isCollaboration(t string) bool {
	switch t {
	case "COLLABORATION_INVITE", "COLLABORATION_ACCEPT", "COLLABORATION_ROLE_CHANGE":
		return true
	}
	return false
}

// User event sources by event type.
const (
	userSourceFile = iota
	userSourceFolder
	userSourceComment
	userSourceTask
	userSourceGroup
)

func userSourceOf(t string) int {
	switch t {
	case "ITEM_CREATE", "ITEM_SYNC", "ITEM_UNSYNC", "COLLAB_ADD_COLLABORATOR",
		"COLLAB_INVITE_COLLABORATOR", "COLLAB_ROLE_CHANGE", "COLLAB_REMOVE_COLLABORATOR":
		return userSourceFolder
	case "COMMENT_CREATE":
		return userSourceComment
	case "TASK_CREATE":
		return userSourceTask
	case "GROUP_ADD_USER":
		return userSourceGroup
	}
	return userSourceFile
}

// inChanges and inSync are the event's membership of the changes and sync streams, by
// the rules parseRawEvent applies to scripted events.
func (ev *genEvent) inChanges() bool { return isChangeEventType(ev.eventType) }

func (ev *genEvent) inSync() bool {
	if !ev.inChanges() || ev.enterprise || ev.odd == oddEmptySource {
		return false
	}
	switch userSourceOf(ev.eventType) {
	case userSourceFile, userSourceFolder: // the folder itself, or the file's parent
		return ev.folder.synced
	}
	return false
}

// idString returns event_id as served: 40 hex digits, or a UUID.
func (ev *genEvent) idString() string {
	return string(appendEventID(nil, ev.enterprise, &ev.id))
}

func appendEventID(dst []byte, enterprise bool, id *[20]byte) []byte {
	if !enterprise {
		return appendHex(dst, id[:])
	}
	dst = appendHex(dst, id[0:4])
	dst = append(dst, '-')
	dst = appendHex(dst, id[4:6])
	dst = append(dst, '-')
	dst = appendHex(dst, id[6:8])
	dst = append(dst, '-')
	dst = appendHex(dst, id[8:10])
	dst = append(dst, '-')
	return appendHex(dst, id[10:16])
}

// appendEvent writes ev as a compact JSON object, keys sorted as encoding/json sorts a
// map's, and returns w's buffer.
func (g *generator) appendEvent(w *jsonw, ev *genEvent) []byte {
	w.open("")
	if ev.enterprise && isCollaboration(ev.eventType) {
		w.person("accessible_by", ev.other, false)
	}
	switch {
	case ev.odd == oddNullCreator:
		w.person("action_by", g.users[0], false)
	case ev.enterprise:
		w.null("action_by")
	}
	switch {
	case ev.odd == oddDetailsText:
		w.str("additional_details", "legacy details string")
	case ev.enterprise:
		g.appendEnterpriseDetails(w, ev)
	case ev.detailsNull:
		w.null("additional_details")
	}
	w.time("created_at", ev.now)
	if ev.odd == oddNullCreator {
		w.null("created_by")
	} else {
		w.person("created_by", ev.actor, ev.odd == oddNumericID)
	}
	w.key("event_id")
	w.b = append(w.b, '"')
	w.b = appendEventID(w.b, ev.enterprise, &ev.id)
	w.b = append(w.b, '"', ',')
	w.str("event_type", ev.eventType)
	if ev.enterprise {
		w.str("ip_address", ev.ip)
	} else {
		w.time("recorded_at", ev.now.Add(time.Duration(ev.recordedLag)*time.Second))
	}
	switch {
	case ev.odd == oddNoSession:
	case ev.noSession:
		w.null("session_id")
	default:
		w.hex("session_id", ev.session[:])
	}
	switch {
	case ev.odd == oddEmptySource:
		w.open("source")
		w.close()
	case ev.enterprise:
		g.appendEnterpriseSource(w, ev)
	default:
		g.appendUserSource(w, ev)
	}
	w.str("type", "event")
	w.close()
	return w.done()
}

// person writes a user's mini object; numericID writes the id as a bare number.
func (w *jsonw) person(k string, p person, numericID bool) {
	if p.mini != "" && !numericID {
		w.raw(k, p.mini)
		return
	}
	w.open(k)
	if numericID {
		w.digits("id", p.id)
	} else {
		w.str("id", p.id)
	}
	w.str("login", p.login)
	w.str("name", p.name)
	w.str("type", "user")
	w.close()
}

// folderMini writes a folder's mini object with its sync_state.
func (w *jsonw) folderMini(k string, fo folder) {
	if fo.mini != "" {
		w.raw(k, fo.mini)
		return
	}
	w.open(k)
	w.str("etag", "0")
	w.str("id", fo.id)
	w.str("name", fo.name)
	w.str("sequence_id", "0")
	if fo.synced {
		w.str("sync_state", "synced")
	} else {
		w.str("sync_state", "not_synced")
	}
	w.str("type", "folder")
	w.close()
}

// rootFolder writes the root folder ("All Files") as path collections carry it.
func (w *jsonw) rootFolder(k string) {
	w.raw(k, `{"etag":null,"id":"0","name":"All Files","sequence_id":null,"type":"folder"}`)
}

// appendUserSource writes a user event's source: the file, folder, comment, task or
// group it is about.
func (*generator) appendUserSource(w *jsonw, ev *genEvent) {
	now := ev.now
	switch userSourceOf(ev.eventType) {
	case userSourceFolder:
		w.open("source")
		w.time("created_at", now.Add(-400*24*time.Hour))
		w.person("created_by", ev.owner, false)
		w.str("description", "")
		w.str("etag", "0")
		w.null("folder_upload_email")
		w.str("id", ev.folder.id)
		w.str("item_status", "active")
		w.time("modified_at", now)
		w.person("modified_by", ev.owner, false)
		w.str("name", ev.folder.name)
		w.person("owned_by", ev.owner, false)
		w.rootFolder("parent")
		w.open("path_collection")
		w.openArray("entries")
		w.rootFolder("")
		w.closeArray()
		w.num("total_count", 1)
		w.close()
		w.str("sequence_id", "0")
		w.null("shared_link")
		w.num("size", ev.folderSize)
		if ev.folder.synced {
			w.str("sync_state", "synced")
		} else {
			w.str("sync_state", "not_synced")
		}
		w.str("type", "folder")
		w.close()
	case userSourceComment:
		w.open("source")
		w.time("created_at", now)
		w.person("created_by", ev.actor, false)
		w.numString("id", ev.objectID)
		w.boolean("is_reply_comment", false)
		w.open("item")
		w.str("id", ev.file.id)
		w.str("type", "file")
		w.close()
		w.key("message")
		w.b = appendJSONString(w.b, "Looks good to me @"+ev.actor.name)
		w.b = append(w.b, ',')
		w.time("modified_at", now)
		w.str("type", "comment")
		w.close()
	case userSourceTask:
		w.open("source")
		w.str("action", "review")
		w.time("created_at", now)
		w.person("created_by", ev.actor, false)
		w.time("due_at", now.Add(72*time.Hour))
		w.numString("id", ev.objectID)
		w.boolean("is_completed", false)
		w.open("item")
		w.str("id", ev.file.id)
		w.str("name", ev.file.name)
		w.str("type", "file")
		w.close()
		w.str("message", "Please review")
		w.str("type", "task")
		w.close()
	case userSourceGroup:
		w.open("source")
		w.str("group_type", "managed_group")
		w.str("id", "1122334")
		w.str("name", "Sales EMEA")
		w.str("type", "group")
		w.close()
	default:
		appendUserFile(w, ev)
	}
}

// appendUserFile writes a file object as user events carry it. The parent's
// sync_state marks files in synced folders (what puts an event in the sync stream).
func appendUserFile(w *jsonw, ev *genEvent) {
	now, f := ev.now, ev.file
	created := now.Add(-time.Duration(ev.createdHours) * time.Hour)
	w.open("source")
	w.time("content_created_at", created)
	w.time("content_modified_at", now)
	w.time("created_at", created)
	w.person("created_by", ev.owner, false)
	w.str("description", "")
	w.str("etag", "3")
	w.open("file_version")
	w.numString("id", ev.fileVersion)
	w.str("type", "file_version")
	w.close()
	w.str("id", f.id)
	if ev.eventType == "ITEM_TRASH" {
		w.str("item_status", "trashed")
	} else {
		w.str("item_status", "active")
	}
	w.time("modified_at", now)
	w.person("modified_by", ev.actor, false)
	w.str("name", f.name)
	w.person("owned_by", ev.owner, false)
	w.folderMini("parent", ev.folder)
	w.open("path_collection")
	w.openArray("entries")
	w.rootFolder("")
	w.folderMini("", ev.folder)
	w.closeArray()
	w.num("total_count", 2)
	w.close()
	w.null("purged_at")
	w.str("sequence_id", "3")
	w.hex("sha1", ev.sha1[:])
	if ev.eventType == "ITEM_SHARED_CREATE" || ev.eventType == "ITEM_SHARED_UPDATE" {
		access := linkAccesses[ev.access]
		w.open("shared_link")
		w.str("access", access)
		w.num("download_count", 0)
		w.str("effective_access", access)
		w.boolean("is_password_enabled", false)
		w.num("preview_count", 0)
		w.key("url")
		w.b = append(w.b, `"https://app.box.com/s/`...)
		w.b = append(w.b, ev.token[:32]...)
		w.b = append(w.b, '"', ',')
		w.close()
	} else {
		w.null("shared_link")
	}
	w.num("size", f.size)
	if ev.eventType == "ITEM_TRASH" {
		w.time("trashed_at", now)
	} else {
		w.null("trashed_at")
	}
	w.str("type", "file")
	w.close()
}

// appendEnterpriseSource writes an admin event's source: a user, a collaboration, a
// group membership, an application, an item, or nothing.
func (g *generator) appendEnterpriseSource(w *jsonw, ev *genEvent) {
	switch ev.eventType {
	case "LOGIN", "ADD_LOGIN_ACTIVITY_DEVICE":
		w.person("source", ev.actor, false)
	case "FAILED_LOGIN":
		w.person("source", ev.other, false)
	case "COLLABORATION_INVITE", "COLLABORATION_ACCEPT", "COLLABORATION_ROLE_CHANGE":
		w.open("source")
		if ev.folderSide {
			w.str("folder_id", ev.folder.id)
			w.str("folder_name", ev.folder.name)
		} else {
			w.str("file_id", ev.file.id)
			w.str("file_name", ev.file.name)
		}
		w.person("owned_by", ev.owner, false)
		w.open("parent")
		w.str("id", "0")
		w.str("name", "All Files")
		w.str("type", "folder")
		w.close()
		w.str("user_id", ev.other.id)
		w.str("user_name", ev.other.name)
		w.close()
	case "CHANGE_ADMIN_ROLE": // the user resource, whose role is the new one
		w.open("source")
		w.str("id", ev.other.id)
		w.str("login", ev.other.login)
		w.str("name", ev.other.name)
		w.str("role", ev.adminRole)
		w.str("status", "active")
		w.str("type", "user")
		w.close()
	case "GROUP_ADD_USER":
		gr, member := ev.group, ev.other
		if gr.id == "" {
			gr = group{"1122334", "Sales EMEA"}
		}
		if member.id == "" {
			member = ev.actor
		}
		w.open("source")
		w.str("group_id", gr.id)
		w.str("group_name", gr.name)
		w.str("user_id", member.id)
		w.str("user_name", member.name)
		w.close()
	case "ENTERPRISE_APP_AUTHORIZATION_UPDATE":
		a := ev.app
		if a.apiKey == "" {
			a = app{"Telegraf Box Events", g.clientID}
		}
		w.open("source")
		w.str("api_key", a.apiKey)
		w.str("name", a.name)
		w.str("type", "application")
		w.close()
	case "SHIELD_ALERT":
		w.null("source")
	case "FUTURE_ENTERPRISE_ACTION":
		w.open("source")
		w.str("barrier_id", "8812")
		w.time("created_at", ev.now)
		w.str("status", "pending")
		w.close()
	default: // item events
		itemType, id, name := "file", ev.file.id, ev.file.name
		parentID, parentName := ev.folder.id, ev.folder.name
		switch ev.itemKind {
		case itemFolder: // a top-level folder
			itemType, id, name = "folder", ev.folder.id, ev.folder.name
			parentID, parentName = "0", "All Files"
		case itemWebLink:
			itemType, id, name = "web_link", "4455667", "Box Developer Docs"
		}
		w.open("source")
		w.str("item_id", id)
		w.str("item_name", name)
		w.str("item_type", itemType)
		w.person("owned_by", ev.owner, false)
		w.open("parent")
		w.str("id", parentID)
		w.str("name", parentName)
		w.str("type", "folder")
		w.close()
		w.close()
	}
}

// appendEnterpriseDetails writes an admin event's additional_details, null for the
// types that have none.
func (*generator) appendEnterpriseDetails(w *jsonw, ev *genEvent) {
	const k = "additional_details"
	switch ev.eventType {
	case "ADD_LOGIN_ACTIVITY_DEVICE":
		w.open(k)
		w.hex("device_id", ev.device[:])
		w.str("device_name", "MacBook Pro")
		w.str("device_type", "Mac")
		w.close()
	case "FAILED_LOGIN":
		w.open(k)
		w.str("failure_reason", "Invalid password")
		w.close()
	case "COLLABORATION_INVITE", "COLLABORATION_ACCEPT", "COLLABORATION_ROLE_CHANGE":
		w.open(k)
		w.numString("collab_id", ev.collabID)
		w.str("invitation_message", "")
		w.boolean("is_performed_by_admin", ev.byAdmin)
		w.str("role", collabRoles[ev.role])
		w.str("type", "box://event/additional_details/collaboration")
		w.close()
	case "SHIELD_ALERT":
		appendShieldAlert(w, ev)
	case "FUTURE_ENTERPRISE_ACTION":
		w.open(k)
		w.str("type", "box://event/additional_details/future")
		w.close()
	case "UPLOAD", "EDIT":
		w.open(k)
		w.str("service_id", services[ev.service].id)
		w.str("service_name", services[ev.service].name)
		w.num("size", ev.file.size)
		w.numString("version_id", ev.versionID)
		w.close()
	case "DOWNLOAD", "PREVIEW":
		if ev.itemKind != itemFile {
			w.null(k)
			return
		}
		w.open(k)
		w.str("service_id", services[ev.service].id)
		w.str("service_name", services[ev.service].name)
		if ev.viaLink {
			w.ascii("shared_link_id", ev.token[:12])
		}
		w.num("size", ev.file.size)
		w.numString("version_id", ev.versionID)
		w.close()
	case "SHARE", "ITEM_SHARED_UPDATE":
		w.open(k)
		w.ascii("shared_link_id", ev.token[:12])
		w.num("size", ev.file.size)
		w.close()
	default:
		w.null(k)
	}
}

// randomBytes fills b from r, one draw a byte, as randomHex does.
func randomBytes(r *rand.Rand, b []byte) {
	for i := range b {
		b[i] = byte(r.Uint32())
	}
}

// randomTokenBytes fills b with characters of tokenAlphabet, as randomToken does.
func randomTokenBytes(r *rand.Rand, b []byte) {
	for i := range b {
		b[i] = tokenAlphabet[r.IntN(len(tokenAlphabet))]
	}
}
