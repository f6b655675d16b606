//! Who may see what: pure rules over the actor (a user with their roles)
//! and the call or idea as stored.

use mops_core::{Actor, Call, CallPhase, IdeaState, Stage};

/// Whether `actor` may see `call`: the process leader and board members see
/// every call; a member of the call's sector group or of its panel sees it
/// from its draft on; everybody else once it is no longer a draft.
pub fn may_see_call(actor: &Actor, call: &Call) -> bool {
    call.phase != CallPhase::Draft
        || actor.is_process_leader()
        || actor.is_board_member()
        || actor.is_sector_member(call.definition.sector_group)
        || actor.is_panel_member(call.id)
}

/// Whether `actor` may see the idea `state` of `call`:
/// - the process leader;
/// - a member of the call's sector group;
/// - a board member once the idea is prepared for decision or decided;
/// - a member of the call's panel, for ideas that were selected (the ones
///   that come before the panel), unless they are an applicant of it or
///   declared a conflict of interest on it;
/// - the lead applicant and the co-applicants.
pub fn may_see_idea(actor: &Actor, state: &IdeaState, call: &Call) -> bool {
    let (Some(idea), Some(person)) = (state.idea(), actor.id.person()) else { return false };
    if idea.call != call.id {
        return false;
    }
    if actor.is_process_leader() || idea.is_applicant(person) || actor.is_sector_member(call.definition.sector_group) {
        return true;
    }
    if actor.is_board_member() && matches!(state.stage(), Stage::Prepared | Stage::Granted | Stage::Declined) {
        return true;
    }
    if actor.is_panel_member(call.id) {
        return state.development().is_some_and(|d| !d.conflicts.contains_key(&person));
    }
    false
}

#[cfg(test)]
mod tests {
    use mops_core::Role;
    use mops_core::domain::PersonId;
    use mops_core::reference::{Round2010, replay_in_memory, round_2010};
    use mops_core::timers::TimerConfig;
    use uuid::Uuid;

    use super::*;

    fn with_role(round: &Round2010, role: Role) -> Actor {
        let (person, _) = round.roles.iter().find(|(_, roles)| roles.as_slice() == [role]).expect("someone");
        round.actor(*person)
    }

    #[test]
    fn the_rules_over_the_2010_round() {
        let round = round_2010();
        let world = replay_in_memory(&round, &TimerConfig::default()).expect("the round replays");
        let call = world.call().expect("the call");
        let idea = |n: usize| world.idea(round.ideas[n].id).expect("an idea");
        // 0: granted, 5: declined, with a declared conflict, 9: lapsed, 10: not selected.
        let sees = |actor: &Actor, n: usize| may_see_idea(actor, idea(n), call);

        let leader = round.actor(round.process_leader);
        assert!((0..26).all(|n| sees(&leader, n)));

        let sector = with_role(&round, Role::SectorGroupMember { group: call.definition.sector_group });
        assert!((0..26).all(|n| sees(&sector, n)));

        let board = with_role(&round, Role::BoardMember);
        assert!(sees(&board, 0) && sees(&board, 5));
        assert!(!sees(&board, 9) && !sees(&board, 10));

        let conflicted = idea(5).development().expect("selected").conflicts.keys().next().copied().expect("a conflict");
        let panel = round.actor(conflicted);
        assert!(panel.is_panel_member(call.id));
        assert!(!sees(&panel, 5), "a declared conflict hides the idea");
        assert!(sees(&panel, 0) && sees(&panel, 9));
        assert!(!sees(&panel, 10), "the panel sees only selected ideas");

        let lead = round.actor(idea(2).idea().expect("an idea").lead.person);
        assert!(sees(&lead, 2));
        assert!(!(0..26).filter(|n| *n != 2).any(|n| sees(&lead, n)));
        let co = idea(0).idea().expect("an idea").details.co_applicants[0].person;
        assert!(sees(&round.actor(co), 0));

        let outsider = Actor::person(PersonId::from_uuid(Uuid::from_u128(u128::MAX)), []);
        assert!(!(0..26).any(|n| sees(&outsider, n)));
        assert!(!(0..26).any(|n| sees(&Actor::system(), n)));

        assert!(may_see_call(&outsider, call));
        let mut draft = call.clone();
        draft.phase = CallPhase::Draft;
        assert!(!may_see_call(&outsider, &draft) && !may_see_call(&lead, &draft));
        assert!([&leader, &sector, &board, &panel].iter().all(|a| may_see_call(a, &draft)));
    }
}
