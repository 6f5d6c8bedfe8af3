//! Who may use the control socket: root, wagwd's own uid, and, with `WAGW_SOCKET_GROUP`, the
//! members of that group. The rule is a pure function; the group lookup is passed in.

use std::ffi::CString;

use nix::unistd::{Gid, Uid, User, getgrouplist};
use tonic::Status;

use crate::config::SocketGroup;

/// A caller's credentials, from the socket's peer credentials (SO_PEERCRED).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Peer {
    pub uid: u32,
    pub gid: u32,
}

/// Admits root, the daemon's uid, and with a socket group a caller whose process runs with that
/// group (`peer.gid`) or whose user belongs to it (`is_member(uid, gid)`, primary or
/// supplementary). The lookup runs only when the cheaper rules have not decided.
pub fn authorize(
    peer: Option<Peer>,
    daemon_uid: u32,
    group: Option<&SocketGroup>,
    is_member: impl FnOnce(u32, u32) -> bool,
) -> Result<(), Status> {
    let Some(peer) = peer else {
        return Err(Status::permission_denied(
            "the caller's credentials are unknown; the control API answers local Unix socket callers only",
        ));
    };
    if peer.uid == 0 || peer.uid == daemon_uid {
        return Ok(());
    }
    if let Some(group) = group
        && (peer.gid == group.gid || is_member(peer.uid, group.gid))
    {
        return Ok(());
    }
    let or_group = group.map_or_else(String::new, |g| {
        format!(", or as a member of group '{}'", g.name)
    });
    Err(Status::permission_denied(format!(
        "uid {} may not use the wagwd control socket; run wagw as root or as uid {daemon_uid}{or_group}",
        peer.uid
    )))
}

/// Whether the user with `uid` belongs to group `gid`, as its primary group or a supplementary
/// one, by the system's user database (NSS). Unknown users belong to nothing.
pub fn uid_in_group(uid: u32, gid: u32) -> bool {
    let Ok(Some(user)) = User::from_uid(Uid::from_raw(uid)) else {
        return false;
    };
    if user.gid.as_raw() == gid {
        return true;
    }
    let Ok(name) = CString::new(user.name) else {
        return false;
    };
    getgrouplist(&name, user.gid).is_ok_and(|groups| groups.contains(&Gid::from_raw(gid)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use tonic::Code;

    const DAEMON: u32 = 1000;

    fn group() -> SocketGroup {
        SocketGroup {
            name: "wagw-ops".into(),
            gid: 500,
        }
    }

    fn peer(uid: u32, gid: u32) -> Option<Peer> {
        Some(Peer { uid, gid })
    }

    fn nobody_is_a_member(_: u32, _: u32) -> bool {
        false
    }

    #[test]
    fn root_and_the_daemon_uid_are_admitted_without_a_lookup() {
        let never = |_: u32, _: u32| -> bool { panic!("no lookup needed") };
        authorize(peer(0, 0), DAEMON, None, never).unwrap();
        authorize(peer(DAEMON, 9), DAEMON, Some(&group()), never).unwrap();
        authorize(peer(0, 0), 0, None, never).unwrap();
    }

    #[test]
    fn without_a_group_everyone_else_is_refused() {
        let denied = authorize(peer(1001, 500), DAEMON, None, |_, _| true).unwrap_err();
        assert_eq!(denied.code(), Code::PermissionDenied);
        assert!(
            denied.message().contains("uid 1001"),
            "{}",
            denied.message()
        );
        assert!(!denied.message().contains("group"), "{}", denied.message());
        assert_eq!(
            authorize(None, DAEMON, Some(&group()), |_, _| true)
                .unwrap_err()
                .code(),
            Code::PermissionDenied
        );
        assert_eq!(
            authorize(peer(DAEMON, 0), 0, None, nobody_is_a_member)
                .unwrap_err()
                .code(),
            Code::PermissionDenied
        );
    }

    #[test]
    fn the_group_admits_by_peer_gid_or_by_membership() {
        let ops = group();
        // The calling process runs with the group (e.g. `sg wagw-ops wagw status`).
        authorize(peer(1001, 500), DAEMON, Some(&ops), nobody_is_a_member).unwrap();
        // The user is a member (primary or supplementary) though the process's gid differs.
        let asked = std::cell::Cell::new(None);
        authorize(peer(1002, 100), DAEMON, Some(&ops), |uid, gid| {
            asked.set(Some((uid, gid)));
            uid == 1002
        })
        .unwrap();
        assert_eq!(
            asked.get(),
            Some((1002, 500)),
            "membership of the socket group"
        );
        // Neither: refused, and told which group would do.
        let denied =
            authorize(peer(1003, 100), DAEMON, Some(&ops), nobody_is_a_member).unwrap_err();
        assert_eq!(denied.code(), Code::PermissionDenied);
        assert!(
            denied.message().contains("member of group 'wagw-ops'"),
            "{}",
            denied.message()
        );
    }

    #[test]
    fn membership_comes_from_the_user_database() {
        // root's primary group is 0 on every Unix; uid 4294967290 exists nowhere.
        assert!(uid_in_group(0, 0));
        assert!(!uid_in_group(4_294_967_290, 0));
    }
}
