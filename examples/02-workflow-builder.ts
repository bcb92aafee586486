// A 3-step workflow: an outline, then two drafts written in parallel from it.
import { Schema } from "effect"
import { Workflow } from "llm-connect"

export const article = Workflow.make("article", { topic: Schema.String })
  .prompt("outline", ({ input }) => `Outline a short article about ${input.topic}`)
  .prompt("draft", ({ steps }) => `Write the article from this outline:\n${steps.outline}`, { needs: ["outline"] })
  .prompt("summary", ({ steps }) => `Summarise this outline in one line:\n${steps.outline}`, { needs: ["outline"] })
