//! A call's definition as the API takes and shows it. It is the public
//! contract, kept apart from `mops_core::CallDefinition` (the stored format):
//! amounts are integer öre in fields named `…_ore`, and every value is parsed
//! into the core's types once, here, with an error naming the field.

use chrono::{DateTime, Utc};
use mops_core::call::{CallDefinition, Criterion, Seminar, SeminarId, TemplateSection, Timeline};
use mops_core::domain::{
    CriterionKey, FreeText, LocalizedText, ScoreScale, SectionKey, SectorGroupId, Sek, Theme, Title,
};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::ApiError;
use super::body::invalid;

/// Everything the process leader sets up for a call.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CallDefinitionBody {
    /// The call's title in Swedish: one line, at most 200 characters.
    pub title: String,
    /// The title in English, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title_en: Option<String>,
    pub description: LocalizedBody,
    /// The sector group that selects and prepares the call's ideas.
    pub sector_group: Uuid,
    /// The themes an idea may name, e.g. `äldreomsorg`.
    pub themes: Vec<String>,
    pub timeline: TimelineDefinitionBody,
    /// How many ideas may be selected for the seminar series.
    pub capacity: u32,
    /// The total that may be granted, in integer öre (1 kr = 100 öre):
    /// 1 300 000 kr is `130000000`. Never negative.
    #[schema(minimum = 0, example = 130_000_000)]
    pub budget_ore: i64,
    /// The most one idea may be granted, in integer öre; none for no ceiling.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 0)]
    pub ceiling_ore: Option<i64>,
    /// What the panel scores.
    pub criteria: Vec<CriterionBody>,
    /// The scoring scale, inclusive; defaults to 1 to 5.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scale: Option<ScaleBody>,
    /// The sections of the project-plan template.
    pub template: Vec<SectionBody>,
}

/// Text in Swedish and, optionally, English.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LocalizedBody {
    pub sv: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub en: Option<String>,
}

/// When things happen, as RFC 3339 instants.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TimelineDefinitionBody {
    pub opens_at: DateTime<Utc>,
    /// Ideas must be submitted before this instant.
    pub closes_at: DateTime<Utc>,
    pub seminars: Vec<SeminarDefinitionBody>,
    /// The pitch panel (Draknästet).
    pub panel_at: DateTime<Utc>,
    /// Project plans must be submitted before this instant.
    pub plan_deadline: DateTime<Utc>,
    /// The board meeting planned for the decisions.
    pub decision_meeting_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SeminarDefinitionBody {
    /// The seminar's number within the call.
    pub id: u16,
    pub title: LocalizedBody,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    pub location: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CriterionBody {
    /// Lower-case letters, digits, `-` and `_`, e.g. `relevans`.
    pub key: String,
    pub name: LocalizedBody,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ScaleBody {
    pub min: u8,
    pub max: u8,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SectionBody {
    /// Lower-case letters, digits, `-` and `_`, e.g. `syfte`.
    pub key: String,
    pub title: LocalizedBody,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub guidance: Option<LocalizedBody>,
    pub mandatory: bool,
}

impl LocalizedBody {
    fn parse(&self, field: &str) -> Result<LocalizedText, ApiError> {
        Ok(LocalizedText {
            sv: FreeText::parse(&self.sv).map_err(|e| invalid(&format!("{field}.sv"), e))?,
            en: self.en.as_deref().map(FreeText::parse).transpose().map_err(|e| invalid(&format!("{field}.en"), e))?,
        })
    }

    fn show(text: &LocalizedText) -> Self {
        Self { sv: text.sv.to_string(), en: text.en.as_ref().map(ToString::to_string) }
    }
}

impl CallDefinitionBody {
    /// The core's definition, or a 422 naming the first field that does not
    /// parse. Rules across fields (dates in order, unique keys) are the
    /// core's: `mops_core::CallDefinition::problems`, answered by the store.
    pub fn parse(&self) -> Result<CallDefinition, ApiError> {
        let t = &self.timeline;
        let seminars = t
            .seminars
            .iter()
            .enumerate()
            .map(|(n, s)| {
                Ok(Seminar {
                    id: SeminarId(s.id),
                    title: s.title.parse(&format!("timeline.seminars[{n}].title"))?,
                    starts_at: s.starts_at,
                    ends_at: s.ends_at,
                    location: s.location.trim().to_owned(),
                })
            })
            .collect::<Result<Vec<_>, ApiError>>()?;
        Ok(CallDefinition {
            title: Title::parse(&self.title).map_err(|e| invalid("title", e))?,
            title_en: self.title_en.as_deref().map(Title::parse).transpose().map_err(|e| invalid("title_en", e))?,
            description: self.description.parse("description")?,
            sector_group: SectorGroupId::from_uuid(self.sector_group),
            themes: self
                .themes
                .iter()
                .enumerate()
                .map(|(n, t)| Theme::parse(t).map_err(|e| invalid(&format!("themes[{n}]"), e)))
                .collect::<Result<_, _>>()?,
            timeline: Timeline {
                opens_at: t.opens_at,
                closes_at: t.closes_at,
                seminars,
                panel_at: t.panel_at,
                plan_deadline: t.plan_deadline,
                decision_meeting_at: t.decision_meeting_at,
            },
            capacity: self.capacity,
            budget: Sek::from_ore(self.budget_ore).map_err(|e| invalid("budget_ore", e))?,
            ceiling: self.ceiling_ore.map(Sek::from_ore).transpose().map_err(|e| invalid("ceiling_ore", e))?,
            criteria: self
                .criteria
                .iter()
                .enumerate()
                .map(|(n, c)| {
                    Ok(Criterion {
                        key: CriterionKey::parse(&c.key).map_err(|e| invalid(&format!("criteria[{n}].key"), e))?,
                        name: c.name.parse(&format!("criteria[{n}].name"))?,
                    })
                })
                .collect::<Result<_, ApiError>>()?,
            scale: match self.scale {
                Some(s) => ScoreScale::new(s.min, s.max).map_err(|e| invalid("scale", e))?,
                None => ScoreScale::default(),
            },
            template: self
                .template
                .iter()
                .enumerate()
                .map(|(n, s)| {
                    Ok(TemplateSection {
                        key: SectionKey::parse(&s.key).map_err(|e| invalid(&format!("template[{n}].key"), e))?,
                        title: s.title.parse(&format!("template[{n}].title"))?,
                        guidance: s
                            .guidance
                            .as_ref()
                            .map(|g| g.parse(&format!("template[{n}].guidance")))
                            .transpose()?,
                        mandatory: s.mandatory,
                    })
                })
                .collect::<Result<_, ApiError>>()?,
        })
    }

    /// The definition as the API shows it.
    pub fn show(d: &CallDefinition) -> Self {
        let t = &d.timeline;
        Self {
            title: d.title.to_string(),
            title_en: d.title_en.as_ref().map(ToString::to_string),
            description: LocalizedBody::show(&d.description),
            sector_group: *d.sector_group.as_uuid(),
            themes: d.themes.iter().map(ToString::to_string).collect(),
            timeline: TimelineDefinitionBody {
                opens_at: t.opens_at,
                closes_at: t.closes_at,
                seminars: t
                    .seminars
                    .iter()
                    .map(|s| SeminarDefinitionBody {
                        id: s.id.0,
                        title: LocalizedBody::show(&s.title),
                        starts_at: s.starts_at,
                        ends_at: s.ends_at,
                        location: s.location.clone(),
                    })
                    .collect(),
                panel_at: t.panel_at,
                plan_deadline: t.plan_deadline,
                decision_meeting_at: t.decision_meeting_at,
            },
            capacity: d.capacity,
            budget_ore: d.budget.ore(),
            ceiling_ore: d.ceiling.map(Sek::ore),
            criteria: d
                .criteria
                .iter()
                .map(|c| CriterionBody { key: c.key.to_string(), name: LocalizedBody::show(&c.name) })
                .collect(),
            scale: Some(ScaleBody { min: d.scale.min(), max: d.scale.max() }),
            template: d
                .template
                .iter()
                .map(|s| SectionBody {
                    key: s.key.to_string(),
                    title: LocalizedBody::show(&s.title),
                    guidance: s.guidance.as_ref().map(LocalizedBody::show),
                    mandatory: s.mandatory,
                })
                .collect(),
        }
    }
}
