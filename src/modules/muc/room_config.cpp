#include "modules/muc/room_config.h"

#include <charconv>
#include <map>

#include "stanza/ns.h"

namespace corvid::modules::muc {

namespace {

namespace ns = stanza::ns;

constexpr int kMaxUsersOptions[] = {10, 20, 30, 50, 100, 200, 500, 1000};
// The longest name and description kept (they go into every disco#info answer).
constexpr std::size_t kMaxTextBytes = 1024;
constexpr std::size_t kMaxPasswordBytes = 256;

std::string_view toString(Whois w) {
    return w == Whois::Anyone ? "anyone" : "moderators";
}

std::string_view toString(AllowPm p) {
    switch (p) {
        case AllowPm::Anyone:
            return "anyone";
        case AllowPm::Participants:
            return "participants";
        case AllowPm::Moderators:
            return "moderators";
        case AllowPm::None:
            return "none";
    }
    return "anyone";
}

std::optional<AllowPm> allowPmFromString(std::string_view s) {
    for (AllowPm p : {AllowPm::Anyone, AllowPm::Participants, AllowPm::Moderators, AllowPm::None}) {
        if (toString(p) == s) {
            return p;
        }
    }
    return std::nullopt;
}

constexpr Role kListRoles[] = {Role::Moderator, Role::Participant, Role::Visitor};

std::vector<std::string> roleNames(const RoleSet& roles) {
    std::vector<std::string> out;
    for (Role r : kListRoles) {
        if (roles.contains(r)) {
            out.emplace_back(toString(r));
        }
    }
    return out;
}

std::optional<bool> parseBool(std::string_view v) {
    if (v == "1" || v == "true") {
        return true;
    }
    if (v == "0" || v == "false") {
        return false;
    }
    return std::nullopt;
}

std::optional<int> parseCount(std::string_view v) {
    int n = 0;
    auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
    if (ec != std::errc() || end != v.data() + v.size() || n < 0) {
        return std::nullopt;
    }
    return n;
}

/// The values of each field of a submitted form (XEP-0004 §3.2), by var.
std::map<std::string, std::vector<std::string>, std::less<>> fieldValues(const xml::Element& x) {
    std::map<std::string, std::vector<std::string>, std::less<>> out;
    for (const xml::Element* field : x.childElements()) {
        if (!field->is("field", ns::kDataForms)) {
            continue;
        }
        auto& values = out[std::string(field->attr("var"))];
        for (const xml::Element* v : field->childElements()) {
            if (v->is("value", ns::kDataForms)) {
                values.push_back(v->text());
            }
        }
    }
    return out;
}

/// Builds the fields of a form.
class FormBuilder {
  public:
    explicit FormBuilder(std::string_view type, std::string_view formType)
        : x_("x", std::string(ns::kDataForms)) {
        x_.setAttr("type", std::string(type));
        field("FORM_TYPE", "hidden", {}, formType);
    }

    xml::Element& field(std::string_view var, std::string_view type, std::string_view label,
                        std::string_view value) {
        xml::Element& f = x_.addChild("field");
        f.setAttr("var", std::string(var));
        f.setAttr("type", std::string(type));
        if (!label.empty()) {
            f.setAttr("label", std::string(label));
        }
        f.addTextChild("value", value);
        return f;
    }

    void boolean(std::string_view var, std::string_view label, bool value) {
        field(var, "boolean", label, value ? "1" : "0");
    }

    static void option(xml::Element& field, std::string_view label, std::string_view value) {
        xml::Element& o = field.addChild("option");
        o.setAttr("label", std::string(label));
        o.addTextChild("value", value);
    }

    xml::Element& form() { return x_; }
    xml::Element take() { return std::move(x_); }

  private:
    xml::Element x_;
};

}  // namespace

storage::MucRoomRecord toRecord(const RoomConfig& c) {
    storage::MucRoomRecord r;
    r.title = c.title;
    r.description = c.description;
    r.isPublic = c.isPublic;
    r.membersOnly = c.membersOnly;
    r.password = c.password;
    r.moderated = c.moderated;
    r.whois = std::string(toString(c.whois));
    r.maxUsers = c.maxUsers;
    r.historyLength = c.historyLength;
    r.changeSubject = c.changeSubject;
    r.allowInvites = c.allowInvites;
    r.memberListRoles = roleNames(c.memberListRoles);
    r.allowPm = std::string(toString(c.allowPm));
    return r;
}

RoomConfig fromRecord(const storage::MucRoomRecord& r) {
    RoomConfig c;
    c.title = r.title;
    c.description = r.description;
    c.persistent = true;
    c.isPublic = r.isPublic;
    c.membersOnly = r.membersOnly;
    c.password = r.password;
    c.moderated = r.moderated;
    c.whois = r.whois == "anyone" ? Whois::Anyone : Whois::Moderators;
    c.maxUsers = r.maxUsers;
    c.historyLength = r.historyLength;
    c.changeSubject = r.changeSubject;
    c.allowInvites = r.allowInvites;
    c.memberListRoles = {};
    for (const auto& name : r.memberListRoles) {
        if (auto role = roleFromString(name)) {
            c.memberListRoles.add(*role);
        }
    }
    c.allowPm = allowPmFromString(r.allowPm).value_or(AllowPm::Anyone);
    return c;
}

xml::Element configForm(const RoomConfig& c, const ConfigLimits& limits) {
    FormBuilder b("form", ns::kMucRoomConfig);
    b.form().addTextChild("title", "Room configuration");
    b.field("muc#roomconfig_roomname", "text-single", "Name", c.title);
    b.field("muc#roomconfig_roomdesc", "text-single", "Description", c.description);
    b.boolean("muc#roomconfig_persistentroom", "Keep the room when the last occupant leaves",
              c.persistent);
    b.boolean("muc#roomconfig_publicroom", "List the room in the directory", c.isPublic);
    b.boolean("muc#roomconfig_membersonly", "Only members may enter", c.membersOnly);
    b.boolean("muc#roomconfig_passwordprotectedroom", "A password is needed to enter",
              !c.password.empty());
    b.field("muc#roomconfig_roomsecret", "text-private", "Password", c.password);
    b.boolean("muc#roomconfig_moderatedroom", "Only occupants with voice may speak", c.moderated);
    xml::Element& whois =
        b.field("muc#roomconfig_whois", "list-single", "Who may see real JIDs", toString(c.whois));
    FormBuilder::option(whois, "Moderators only", "moderators");
    FormBuilder::option(whois, "Anyone", "anyone");
    const std::string users = c.maxUsers == 0 ? "none" : std::to_string(c.maxUsers);
    xml::Element& max =
        b.field("muc#roomconfig_maxusers", "list-single", "Most occupants at once", users);
    if (limits.maxUsers == 0) {
        FormBuilder::option(max, "No limit", "none");
    }
    for (int n : kMaxUsersOptions) {
        if (limits.maxUsers == 0 || n < limits.maxUsers) {
            FormBuilder::option(max, std::to_string(n), std::to_string(n));
        }
    }
    if (limits.maxUsers != 0) {
        FormBuilder::option(
            max, std::to_string(limits.maxUsers) + " (the most this service allows)", "none");
    }
    b.field(
        "muc#maxhistoryfetch", "text-single",
        "Messages of history sent to newcomers (at most " + std::to_string(limits.maxHistory) + ")",
        std::to_string(c.historyLength));
    b.boolean("muc#roomconfig_changesubject", "Participants may change the subject",
              c.changeSubject);
    b.boolean("muc#roomconfig_allowinvites", "Participants may invite others", c.allowInvites);
    xml::Element& list = b.field("muc#roomconfig_getmemberlist", "list-multi",
                                 "Roles that may see the member list", {});
    list.removeChildren("value", ns::kDataForms);
    for (const auto& name : roleNames(c.memberListRoles)) {
        list.addTextChild("value", name);
    }
    FormBuilder::option(list, "Moderators", "moderator");
    FormBuilder::option(list, "Participants", "participant");
    FormBuilder::option(list, "Visitors", "visitor");
    xml::Element& pm = b.field("muc#roomconfig_allowpm", "list-single",
                               "Roles that may send private messages", toString(c.allowPm));
    FormBuilder::option(pm, "Anyone", "anyone");
    FormBuilder::option(pm, "Anyone with voice", "participants");
    FormBuilder::option(pm, "Moderators only", "moderators");
    FormBuilder::option(pm, "Nobody", "none");
    return b.take();
}

std::expected<RoomConfig, std::string> applyConfigForm(RoomConfig c, const xml::Element& x,
                                                       const ConfigLimits& limits) {
    const auto values = fieldValues(x);
    auto single = [&](std::string_view var) -> const std::string* {
        auto it = values.find(var);
        return it == values.end() || it->second.empty() ? nullptr : &it->second.front();
    };
    if (const std::string* type = single("FORM_TYPE"); type && *type != ns::kMucRoomConfig) {
        return std::unexpected("the form is not a muc#roomconfig form");
    }
    auto text = [&](std::string_view var, std::string& out,
                    std::size_t max) -> std::optional<std::string> {
        if (auto it = values.find(var); it != values.end()) {
            std::string v = it->second.empty() ? std::string() : it->second.front();
            if (v.size() > max) {
                return std::string(var) + " is longer than " + std::to_string(max) + " bytes";
            }
            out = std::move(v);
        }
        return std::nullopt;
    };
    auto flag = [&](std::string_view var, bool& out) -> std::optional<std::string> {
        if (const std::string* v = single(var)) {
            auto b = parseBool(*v);
            if (!b) {
                return std::string(var) + " must be a boolean";
            }
            out = *b;
        }
        return std::nullopt;
    };
    bool passwordProtected = !c.password.empty();
    for (auto error : {text("muc#roomconfig_roomname", c.title, kMaxTextBytes),
                       text("muc#roomconfig_roomdesc", c.description, kMaxTextBytes),
                       text("muc#roomconfig_roomsecret", c.password, kMaxPasswordBytes),
                       flag("muc#roomconfig_persistentroom", c.persistent),
                       flag("muc#roomconfig_publicroom", c.isPublic),
                       flag("muc#roomconfig_membersonly", c.membersOnly),
                       flag("muc#roomconfig_passwordprotectedroom", passwordProtected),
                       flag("muc#roomconfig_moderatedroom", c.moderated),
                       flag("muc#roomconfig_changesubject", c.changeSubject),
                       flag("muc#roomconfig_allowinvites", c.allowInvites)}) {
        if (error) {
            return std::unexpected(std::move(*error));
        }
    }
    if (single("muc#roomconfig_passwordprotectedroom") != nullptr) {
        if (!passwordProtected) {
            c.password.clear();
        } else if (c.password.empty()) {
            return std::unexpected(
                "a password-protected room needs a password (muc#roomconfig_roomsecret)");
        }
    }
    if (const std::string* v = single("muc#roomconfig_whois")) {
        if (*v == "moderators") {
            c.whois = Whois::Moderators;
        } else if (*v == "anyone") {
            c.whois = Whois::Anyone;
        } else {
            return std::unexpected("muc#roomconfig_whois must be moderators or anyone");
        }
    }
    if (const std::string* v = single("muc#roomconfig_maxusers")) {
        if (*v == "none" || *v == "0") {
            c.maxUsers = 0;
        } else if (auto n = parseCount(*v)) {
            if (limits.maxUsers != 0 && *n > limits.maxUsers) {
                return std::unexpected("this service allows at most " +
                                       std::to_string(limits.maxUsers) + " occupants per room");
            }
            c.maxUsers = *n;
        } else {
            return std::unexpected("muc#roomconfig_maxusers must be a number or none");
        }
    }
    if (const std::string* v = single("muc#maxhistoryfetch")) {
        auto n = parseCount(*v);
        if (!n) {
            return std::unexpected("muc#maxhistoryfetch must be a number");
        }
        c.historyLength = std::min(*n, limits.maxHistory);
    }
    if (auto it = values.find("muc#roomconfig_getmemberlist"); it != values.end()) {
        RoleSet roles;
        for (const auto& v : it->second) {
            auto role = roleFromString(v);
            if (!role || *role == Role::None) {
                return std::unexpected("muc#roomconfig_getmemberlist: unknown role " + v);
            }
            roles.add(*role);
        }
        c.memberListRoles = roles;
    }
    if (const std::string* v = single("muc#roomconfig_allowpm")) {
        auto pm = allowPmFromString(*v);
        if (!pm) {
            return std::unexpected(
                "muc#roomconfig_allowpm must be anyone, participants, moderators or none");
        }
        c.allowPm = *pm;
    }
    return c;
}

std::vector<std::string> configFeatures(const RoomConfig& c) {
    return {
        c.isPublic ? "muc_public" : "muc_hidden",
        c.persistent ? "muc_persistent" : "muc_temporary",
        c.membersOnly ? "muc_membersonly" : "muc_open",
        c.moderated ? "muc_moderated" : "muc_unmoderated",
        c.password.empty() ? "muc_unsecured" : "muc_passwordprotected",
        c.whois == Whois::Anyone ? "muc_nonanonymous" : "muc_semianonymous",
    };
}

xml::Element roomInfoForm(const RoomConfig& c, std::string_view subject, std::size_t occupants) {
    FormBuilder b("result", ns::kMucRoomInfo);
    b.field("muc#roominfo_description", "text-single", "Description", c.description);
    b.field("muc#roominfo_subject", "text-single", "Subject", subject);
    b.boolean("muc#roominfo_subjectmod", "Participants may change the subject", c.changeSubject);
    b.field("muc#roominfo_occupants", "text-single", "Occupants", std::to_string(occupants));
    b.field("muc#maxhistoryfetch", "text-single", "Messages of history sent to newcomers",
            std::to_string(c.historyLength));
    b.boolean("muc#roomconfig_allowinvites", "Participants may invite others", c.allowInvites);
    b.field("muc#roomconfig_allowpm", "list-single", "Roles that may send private messages",
            toString(c.allowPm));
    return b.take();
}

}  // namespace corvid::modules::muc
