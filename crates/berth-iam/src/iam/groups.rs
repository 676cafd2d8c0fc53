//! IAM groups and their members, typed.

use super::shapes::{
    CreateGroupInput, CreateGroupResult, GetGroupInput, GetGroupResult, Group, GroupMembershipInput, GroupNameInput,
    ListGroupsForUserInput, ListGroupsInput, ListGroupsResult, User,
};
use super::{
    Iam, already_exists, check_name, check_path, delete_conflict, no_group, no_such_entity, no_user, paginate,
    random_id,
};
use crate::directory::{GROUPS, GroupRec, USERS, UserRec};
use crate::format_iso;
use berth_proto::AwsError;
use berth_proto::query::QueryResult;
use berth_store::{Compare, Op, typed};

impl Iam {
    pub(super) async fn create_group(&self, input: CreateGroupInput) -> Result<QueryResult, AwsError> {
        let name = input.group_name.as_str();
        check_name(name, "groupName", 128)?;
        let path = check_path(input.path.as_deref())?;
        let _w = self.write_lock.lock().await;
        let dir = self.auth.directory();
        if dir.groups.keys().any(|g| g.eq_ignore_ascii_case(name)) {
            return Err(already_exists(format!("Group with name {name} already exists.")));
        }
        let group = GroupRec {
            name: name.to_string(),
            id: random_id("AGPA", 17),
            arn: format!("arn:aws:iam::{}:group{path}{name}", self.account_id),
            path,
            create_date: format_iso(self.now()),
            inline: Default::default(),
            attached: vec![],
        };
        let key = format!("{GROUPS}{name}");
        if !self
            .commit(
                vec![Compare::Absent(key.clone())],
                vec![Op::Put(key, typed::encode(&group).map_err(AwsError::state_store)?)],
            )
            .await?
        {
            return Err(already_exists(format!("Group with name {name} already exists.")));
        }
        QueryResult::of("CreateGroup", &CreateGroupResult { group: (&group).into() })
    }

    pub(super) fn get_group(&self, input: GetGroupInput) -> Result<QueryResult, AwsError> {
        let name = input.group_name.as_str();
        let dir = self.auth.directory();
        let group = dir.groups.get(name).ok_or_else(|| no_group(name))?;
        let members: Vec<&UserRec> = dir
            .users
            .values()
            .filter(|u| u.groups.iter().any(|g| g == name))
            .collect();
        let (page, marker) = paginate(members, |u| u.name.clone(), input.marker.as_deref(), input.max_items)?;
        let out = GetGroupResult {
            group: group.into(),
            users: page.into_iter().map(User::from).collect::<Vec<_>>().into(),
            is_truncated: marker.is_some(),
            marker,
        };
        QueryResult::of("GetGroup", &out)
    }

    pub(super) fn list_groups(&self, input: ListGroupsInput) -> Result<QueryResult, AwsError> {
        let dir = self.auth.directory();
        let prefix = input.path_prefix.as_deref().unwrap_or("/");
        let groups: Vec<&GroupRec> = dir.groups.values().filter(|g| g.path.starts_with(prefix)).collect();
        let (page, marker) = paginate(groups, |g| g.name.clone(), input.marker.as_deref(), input.max_items)?;
        QueryResult::of("ListGroups", &groups_result(page, marker))
    }

    pub(super) fn list_groups_for_user(&self, input: ListGroupsForUserInput) -> Result<QueryResult, AwsError> {
        let user = input.user_name.as_str();
        let dir = self.auth.directory();
        let u = dir.users.get(user).ok_or_else(|| no_user(user))?;
        let mut groups: Vec<&GroupRec> = u.groups.iter().filter_map(|g| dir.groups.get(g)).collect();
        groups.sort_by(|a, b| a.name.cmp(&b.name));
        let (page, marker) = paginate(groups, |g| g.name.clone(), input.marker.as_deref(), input.max_items)?;
        QueryResult::of("ListGroupsForUser", &groups_result(page, marker))
    }

    pub(super) async fn delete_group(&self, input: GroupNameInput) -> Result<QueryResult, AwsError> {
        let name = input.group_name.as_str();
        let _w = self.write_lock.lock().await;
        let dir = self.auth.directory();
        let group = dir.groups.get(name).ok_or_else(|| no_group(name))?;
        if dir.users.values().any(|u| u.groups.iter().any(|g| g == name)) {
            return Err(delete_conflict(
                "Cannot delete entity, must remove users from group first.",
            ));
        }
        if !group.attached.is_empty() {
            return Err(delete_conflict("Cannot delete entity, must detach all policies first."));
        }
        if !group.inline.is_empty() {
            return Err(delete_conflict("Cannot delete entity, must delete policies first."));
        }
        self.commit(vec![], vec![Op::Delete(format!("{GROUPS}{name}"))]).await?;
        Ok(QueryResult::empty())
    }

    pub(super) async fn group_membership(
        &self,
        input: GroupMembershipInput,
        add: bool,
    ) -> Result<QueryResult, AwsError> {
        let group = input.group_name.as_str();
        let user = input.user_name.as_str();
        let _w = self.write_lock.lock().await;
        let dir = self.auth.directory();
        if !dir.groups.contains_key(group) {
            return Err(no_group(group));
        }
        let mut u = dir.users.get(user).cloned().ok_or_else(|| no_user(user))?;
        if add {
            if !u.groups.iter().any(|g| g == group) {
                u.groups.push(group.to_string());
            }
        } else {
            let before = u.groups.len();
            u.groups.retain(|g| g != group);
            if u.groups.len() == before {
                return Err(no_such_entity(format!(
                    "The user with name {user} is not in group {group}."
                )));
            }
        }
        self.commit(
            vec![Compare::Exists(format!("{GROUPS}{group}"))],
            vec![Op::Put(
                format!("{USERS}{user}"),
                typed::encode(&u).map_err(AwsError::state_store)?,
            )],
        )
        .await?;
        Ok(QueryResult::empty())
    }
}

fn groups_result(page: Vec<&GroupRec>, marker: Option<String>) -> ListGroupsResult {
    ListGroupsResult {
        groups: page.into_iter().map(Group::from).collect::<Vec<_>>().into(),
        is_truncated: marker.is_some(),
        marker,
    }
}
