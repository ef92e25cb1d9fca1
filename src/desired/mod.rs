//! The desired state: which accounts must be members of which Detective behavior graphs and
//! Security Hubs (listed by hand or taken from the organization), or, for a muster in a member
//! account, which administrators' invitations it accepts; read from a YAML file or a directory
//! of `*.yaml` files kept in git.
//!
//! Reading never stops at the first problem: every problem in every file is collected and
//! reported at once as `file:line:col: message`, naming the field and what would fix it. A file
//! that is empty, unreadable or too large is a problem, never "no accounts": an empty desired
//! state would otherwise read as "remove every member".

//!
//! Layout: `model` (the types), `load` (files read, bounded, digested), `check/` (the checker,
//! one file a section), `yaml` (the located YAML tree).

mod check;
mod load;
mod model;
pub mod yaml;

use check::*;
pub use check::{is_ou_id, standard_arn};
use load::*;
pub use load::{load, parse_files};
pub use model::*;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::domain::{
    AccountId, Email, GraphArn, Package, Region, Service, Shape, Target, EMAIL_MAX_CHARS,
};
pub use crate::domain::{AssociationTarget, Controls};
use yaml::{Kind, Node, Pos};

#[cfg(test)]
mod tests;

#[cfg(test)]
mod fuzz;
