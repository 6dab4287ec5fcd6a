//! Who is calling and what they may do. A caller is identified by its certificate (see
//! [`crate::pki`]): the unit it belongs to and its roles. The rules here are pure; the gRPC
//! layer extracts the caller and asks.
//!
//! - A node (role `node`) may push to and pull from its parent, for its own subtree only.
//! - A unit clerk (cán bộ văn thư / chuyên viên) writes its own unit's drafts and ballots.
//! - An approver decides the plans of the units its unit approves.
//! - A board reader (Ban Tổ chức) reads consolidated lists and findings.
//! - An administrator manages reference data.
//!
//! Reads are scoped to the caller's own unit and everything below it, whatever the role.

use crate::{
    domain::{FieldError, Hierarchy},
    error::Error,
};

crate::domain::words::words! {
    /// A role a certificate can carry.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
    pub enum Role ("role") {
        /// Another quyhoach node.
        Node = "node",
        /// A unit clerk: writes its own unit's plans.
        Clerk = "clerk",
        /// An approver: decides the plans its unit approves.
        Approver = "approver",
        /// A board reader: read-only consolidated queries and checks.
        Reader = "reader",
        /// An administrator: reference data.
        Admin = "admin",
    }
}

/// The identity behind a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Caller {
    /// Authenticated by a client certificate.
    Certified {
        /// The unit named in the certificate.
        unit: String,
        /// The roles the certificate grants.
        roles: Vec<Role>,
        /// The certificate's common name: a person or a node.
        name: String,
    },
    /// A node started with `--insecure`: nobody is authenticated and everything is allowed.
    Insecure,
}

impl Caller {
    /// The node of `unit`, as its node certificate would name it: how a parent in the same
    /// process (tests, the benchmark) sees a child that pushes to it.
    pub fn node_of(unit: &str) -> Caller {
        Caller::Certified {
            unit: unit.to_string(),
            roles: vec![Role::Node],
            name: format!("node {unit}"),
        }
    }

    /// Returns true if and only if the caller may see national IDs whole: the roles that work
    /// with the lists (clerk, approver, administrator) and an insecure node's caller; a reader
    /// sees them masked ([`crate::domain::validate::mask_id`]), on every face.
    pub fn sees_full_ids(&self) -> bool {
        match self {
            Caller::Insecure => true,
            Caller::Certified { roles, .. } => roles
                .iter()
                .any(|r| matches!(r, Role::Clerk | Role::Approver | Role::Admin)),
        }
    }

    /// A national ID as this caller may see it: whole, or masked for a reader.
    pub fn shown_id(&self, id: &str) -> String {
        if self.sees_full_ids() {
            id.to_string()
        } else {
            crate::domain::validate::mask_id(id)
        }
    }

    /// How the audit trail names this caller.
    pub fn label(&self) -> String {
        match self {
            Caller::Certified { unit, roles, name } => {
                let roles: Vec<&str> = roles.iter().map(|r| r.as_str()).collect();
                format!("{name} [{}@{unit}]", roles.join("+"))
            }
            Caller::Insecure => "insecure (no TLS)".into(),
        }
    }

    fn has(&self, role: Role) -> bool {
        match self {
            Caller::Certified { roles, .. } => roles.contains(&role),
            Caller::Insecure => true,
        }
    }

    fn forbid(&self, field: &str, problem: String) -> Error {
        Error::Denied(FieldError::new(
            field,
            format!("{}: {problem}", self.label()),
        ))
    }

    /// Requires a certificate with at least one role.
    ///
    /// # Errors
    ///
    /// [`Error::Denied`] if the certificate carries no role (an insecure caller always passes).
    pub fn require_authenticated(&self) -> Result<(), Error> {
        match self {
            Caller::Certified { roles, .. } if roles.is_empty() => {
                Err(self.forbid("caller", "the certificate carries no role".into()))
            }
            _ => Ok(()),
        }
    }

    /// Requires `role`.
    ///
    /// # Errors
    ///
    /// [`Error::Denied`] if the caller's certificate does not carry `role`.
    pub fn require(&self, role: Role) -> Result<(), Error> {
        if self.has(role) {
            Ok(())
        } else {
            Err(self.forbid("caller", format!("this needs the {role} role")))
        }
    }

    /// A write to `unit`'s own plan: the clerk of that very unit.
    ///
    /// # Errors
    ///
    /// [`Error::Denied`] if the caller is not a clerk, or is a clerk of another unit.
    pub fn require_clerk_of(&self, unit: &str) -> Result<(), Error> {
        self.require_role_of(Role::Clerk, unit, "unit", |own| {
            format!(
                "a clerk of {own} cannot write the plans of {}",
                crate::domain::validate::short(unit)
            )
        })
    }

    /// A decision taken by `approving_unit` (the node's unit): an approver of that unit.
    ///
    /// # Errors
    ///
    /// [`Error::Denied`] if the caller is not an approver, or is an approver of another unit.
    pub fn require_approver_at(&self, approving_unit: &str) -> Result<(), Error> {
        self.require_role_of(Role::Approver, approving_unit, "caller", |own| {
            format!("an approver of {own} cannot decide at {approving_unit}")
        })
    }

    /// A node-to-node call claiming to come from `from_unit`: a node certificate of that unit.
    ///
    /// # Errors
    ///
    /// [`Error::Denied`] if the caller has no node certificate, or its certificate is for
    /// another unit than `from_unit`.
    pub fn require_node(&self, from_unit: &str) -> Result<(), Error> {
        self.require_role_of(Role::Node, from_unit, "from_unit", |own| {
            format!(
                "the certificate is for {own}, but the call claims to come from {}",
                crate::domain::validate::short(from_unit)
            )
        })
    }

    /// Requires `role` held in `unit` itself: a certificate of another unit is refused on
    /// `field` with `refusal(its unit)` (an insecure caller always passes).
    fn require_role_of(
        &self,
        role: Role,
        unit: &str,
        field: &str,
        refusal: impl FnOnce(&str) -> String,
    ) -> Result<(), Error> {
        self.require(role)?;
        match self {
            Caller::Certified { unit: own, .. } if own != unit => {
                Err(self.forbid(field, refusal(own)))
            }
            _ => Ok(()),
        }
    }

    /// Returns true if and only if the caller may read what belongs to `unit`: its own unit and
    /// everything below it, including the units since abolished that they absorbed
    /// ([`Hierarchy::reads`]: today's structure mapped back through the reorganisations).
    pub fn may_read(&self, hierarchy: &Hierarchy, unit: &str) -> bool {
        match self {
            Caller::Certified {
                unit: own, roles, ..
            } => !roles.is_empty() && hierarchy.reads(unit, own),
            Caller::Insecure => true,
        }
    }

    /// Requires read access to `unit`.
    ///
    /// # Errors
    ///
    /// [`Error::Denied`] on `field` if `unit` is outside the caller's own unit and subtree,
    /// or the certificate carries no role.
    pub fn require_read(
        &self,
        hierarchy: &Hierarchy,
        field: &str,
        unit: &str,
    ) -> Result<(), Error> {
        if self.may_read(hierarchy, unit) {
            Ok(())
        } else {
            Err(self.forbid(
                field,
                format!(
                    "{} is outside the caller's own unit and subtree",
                    crate::domain::validate::short(unit)
                ),
            ))
        }
    }

    /// The root of a read that names no unit: this node's unit if the caller may read all of
    /// it, else the caller's own unit if it lies within the node's subtree.
    ///
    /// # Errors
    ///
    /// [`Error::Denied`] if the caller may read neither the node's unit nor a unit within
    /// its subtree.
    pub fn default_root(&self, hierarchy: &Hierarchy, node_unit: &str) -> Result<String, Error> {
        if self.may_read(hierarchy, node_unit) {
            return Ok(node_unit.to_string());
        }
        match self {
            Caller::Certified { unit, roles, .. }
                if !roles.is_empty() && hierarchy.is_within(unit, node_unit) =>
            {
                Ok(unit.clone())
            }
            _ => Err(self.forbid(
                "under",
                format!("nothing at {node_unit} is within the caller's unit"),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h() -> Hierarchy {
        Hierarchy::parse("code,level,name,parent_code\n40,province,P,\n412,district,D,40\n16681,commune,A,412\n16690,commune,B,412\n427,district,E,40\n")
            .unwrap()
    }

    fn who(unit: &str, roles: &[Role]) -> Caller {
        Caller::Certified {
            unit: unit.into(),
            roles: roles.to_vec(),
            name: "Nguyễn Văn A".into(),
        }
    }

    #[test]
    fn clerks_write_only_their_own_unit() {
        let c = who("16681", &[Role::Clerk]);
        assert!(c.require_clerk_of("16681").is_ok());
        assert!(matches!(c.require_clerk_of("16690"), Err(Error::Denied(f)) if f.field == "unit"));
        assert!(
            who("16681", &[Role::Reader])
                .require_clerk_of("16681")
                .is_err(),
            "a reader never writes"
        );
    }

    #[test]
    fn reads_are_scoped_to_the_callers_subtree() {
        let h = h();
        assert!(who("412", &[Role::Approver]).may_read(&h, "16681"));
        assert!(
            !who("16681", &[Role::Clerk]).may_read(&h, "16690"),
            "not a sibling"
        );
        assert!(
            !who("412", &[Role::Reader]).may_read(&h, "40"),
            "not the parent"
        );
        assert!(!who("412", &[]).may_read(&h, "412"), "no role, no access");
        assert!(
            who("16681", &[]).default_root(&h, "412").is_err(),
            "no role, no default subtree either"
        );
        assert_eq!(
            who("16681", &[Role::Clerk])
                .default_root(&h, "412")
                .unwrap(),
            "16681"
        );
        assert_eq!(
            who("40", &[Role::Reader]).default_root(&h, "412").unwrap(),
            "412"
        );
        assert!(who("427", &[Role::Reader]).default_root(&h, "412").is_err());
    }

    #[test]
    fn a_node_cannot_claim_another_unit() {
        let n = who("412", &[Role::Node]);
        assert!(n.require_node("412").is_ok());
        assert!(n.require_node("427").is_err());
        assert!(who("412", &[Role::Approver]).require_node("412").is_err());
        assert!(Caller::Insecure.require_node("427").is_ok());
    }
}
