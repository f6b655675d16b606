//! Who may see what: pure rules over the actor (a user with their roles)
//! and the call or idea as stored.

use mops_core::{Actor, ActorRef, Call, CallPhase, IdeaEvent, IdeaState, Recorded, Stage};

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

/// Whether `actor` sees an idea's timeline in full: the process leader, the
/// call's sector group and the board.
fn sees_everything(actor: &Actor, call: &Call) -> bool {
    actor.is_process_leader() || actor.is_sector_member(call.definition.sector_group) || actor.is_board_member()
}

/// One event of an idea's timeline as `actor` may see it, or `None` to leave
/// it out. Staff see everything. Panel members and applicants do not see
/// declared conflicts (other than their own), nor which panel member wrote
/// which feedback, nor who among the staff did what: `actor` is `None` then.
pub fn event_for(
    actor: &Actor,
    call: &Call,
    recorded: &Recorded<IdeaEvent>,
) -> Option<(Option<ActorRef>, serde_json::Value)> {
    let mut body = serde_json::to_value(&recorded.event).ok()?;
    if sees_everything(actor, call) {
        return Some((Some(recorded.actor), body));
    }
    let me = actor.id.person();
    match &recorded.event {
        IdeaEvent::ConflictDeclared { panel_member, .. } if Some(*panel_member) != me => return None,
        IdeaEvent::FeedbackGiven { panel_member, .. } if Some(*panel_member) != me => {
            if let Some(fields) = body.as_object_mut() {
                fields.remove("panel_member");
            }
        }
        _ => {}
    }
    let shown = match recorded.actor {
        ActorRef::System => Some(ActorRef::System),
        ActorRef::Person(p) if Some(p) == me => Some(recorded.actor),
        ActorRef::Person(_) => None,
    };
    Some((shown, body))
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

    #[test]
    fn applicants_see_feedback_but_not_who_gave_it_nor_conflicts() {
        let round = round_2010();
        let world = replay_in_memory(&round, &TimerConfig::default()).expect("the round replays");
        let call = world.call().expect("the call");
        // Idea 5 has a declared conflict and feedback from three panel members.
        let record = &world.ideas[&round.ideas[5].id];
        let lead = round.actor(record.state.idea().expect("an idea").lead.person);
        let seen: Vec<_> = record.events.iter().filter_map(|e| event_for(&lead, call, e)).collect();
        assert!(seen.len() < record.events.len(), "the conflict is left out");
        assert!(seen.iter().all(|(_, body)| body["type"] != "conflict_declared"));
        let feedback: Vec<_> = seen.iter().filter(|(_, body)| body["type"] == "feedback_given").collect();
        assert_eq!(feedback.len(), 3);
        for (actor, body) in feedback {
            assert!(body.get("panel_member").is_none() && actor.is_none(), "{body}");
            assert!(body.get("scores").is_some() && body.get("text").is_some());
        }
        // The applicant's own submission shows them as its actor.
        assert!(seen.iter().any(|(actor, _)| *actor == Some(lead.id)));
        // Staff see everything as recorded.
        let leader = with_role(&round, Role::ProcessLeader);
        let all: Vec<_> = record.events.iter().filter_map(|e| event_for(&leader, call, e)).collect();
        assert_eq!(all.len(), record.events.len());
        assert!(all.iter().all(|(actor, _)| actor.is_some()));
    }
}
