using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace KnowPay.Data.Migrations.Postgres
{
    /// <inheritdoc />
    public partial class ReconciliationLedgerAndEntitlementLegs : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.AddColumn<string>(
                name: "entitlement_id",
                table: "reconciliation_items",
                type: "character varying(200)",
                maxLength: 200,
                nullable: true);

            migrationBuilder.AddColumn<string>(
                name: "journal_id",
                table: "reconciliation_items",
                type: "character varying(200)",
                maxLength: 200,
                nullable: true);

            migrationBuilder.AddColumn<string>(
                name: "offered_action",
                table: "reconciliation_items",
                type: "character varying(16)",
                maxLength: 16,
                nullable: true);

            migrationBuilder.AddColumn<string>(
                name: "order_id",
                table: "reconciliation_items",
                type: "character varying(200)",
                maxLength: 200,
                nullable: true);

            migrationBuilder.CreateIndex(
                name: "ix_ledger_journals_payment_id",
                table: "ledger_journals",
                column: "payment_id");
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropIndex(
                name: "ix_ledger_journals_payment_id",
                table: "ledger_journals");

            migrationBuilder.DropColumn(
                name: "entitlement_id",
                table: "reconciliation_items");

            migrationBuilder.DropColumn(
                name: "journal_id",
                table: "reconciliation_items");

            migrationBuilder.DropColumn(
                name: "offered_action",
                table: "reconciliation_items");

            migrationBuilder.DropColumn(
                name: "order_id",
                table: "reconciliation_items");
        }
    }
}
