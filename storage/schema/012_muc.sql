-- Multi-user chat (XEP-0045): the persistent rooms of each chat service with their configuration
-- (the muc#roomconfig fields corvid offers), their subject and their affiliations. Transient rooms
-- and the occupants of every room live in memory only.

CREATE TABLE muc_rooms (
    id              bigserial PRIMARY KEY,
    -- The chat service's domain (conference.example.org) and the room's localpart, both prepared
    -- (RFC 7622).
    service         text NOT NULL,
    name            text NOT NULL,
    -- muc#roomconfig_roomname and _roomdesc.
    title           text NOT NULL DEFAULT '',
    description     text NOT NULL DEFAULT '',
    -- muc#roomconfig_publicroom: listed in the service's disco#items.
    public          boolean NOT NULL DEFAULT true,
    members_only    boolean NOT NULL DEFAULT false,
    -- muc#roomconfig_roomsecret; '' means no password.
    password        text NOT NULL DEFAULT '',
    moderated       boolean NOT NULL DEFAULT false,
    -- muc#roomconfig_whois: who sees the occupants' real JIDs.
    whois           text NOT NULL DEFAULT 'moderators' CHECK (whois IN ('moderators', 'anyone')),
    -- muc#roomconfig_maxusers; 0 means the service's limit.
    max_users       integer NOT NULL DEFAULT 0 CHECK (max_users >= 0),
    -- muc#maxhistoryfetch: messages of history kept and sent on join.
    history_length  integer NOT NULL DEFAULT 20 CHECK (history_length >= 0),
    -- muc#roomconfig_changesubject: participants may change the subject (moderators always may).
    change_subject  boolean NOT NULL DEFAULT false,
    -- muc#roomconfig_allowinvites: participants may invite others.
    allow_invites   boolean NOT NULL DEFAULT false,
    -- muc#roomconfig_getmemberlist: the roles that may retrieve the member list.
    member_list_roles text[] NOT NULL DEFAULT '{moderator,participant}',
    -- muc#roomconfig_allowpm: the roles that may send private messages.
    allow_pm        text NOT NULL DEFAULT 'anyone'
                    CHECK (allow_pm IN ('anyone', 'participants', 'moderators', 'none')),
    -- The current subject (XEP-0045 §8.1) and the nickname of whoever set it.
    subject         text NOT NULL DEFAULT '',
    subject_nick    text NOT NULL DEFAULT '',
    subject_at      timestamptz,
    created_at      timestamptz NOT NULL DEFAULT now(),
    UNIQUE (service, name)
);

-- XEP-0045 §5.2: long-lived associations of bare JIDs (or whole domains) with a room. 'none' is
-- the absence of a row.
CREATE TABLE muc_affiliations (
    room_id     bigint NOT NULL REFERENCES muc_rooms (id) ON DELETE CASCADE,
    jid         text NOT NULL,
    affiliation text NOT NULL CHECK (affiliation IN ('owner', 'admin', 'member', 'outcast')),
    -- The nickname reserved for this JID in the room (XEP-0045 §7.10), if any.
    nick        text,
    reason      text NOT NULL DEFAULT '',
    PRIMARY KEY (room_id, jid)
);
-- A nickname is reserved for one JID at most.
CREATE UNIQUE INDEX muc_affiliations_nick ON muc_affiliations (room_id, nick) WHERE nick IS NOT NULL;
-- The rooms an account owns (a limit counts them).
CREATE INDEX muc_affiliations_jid ON muc_affiliations (jid) WHERE affiliation = 'owner';
