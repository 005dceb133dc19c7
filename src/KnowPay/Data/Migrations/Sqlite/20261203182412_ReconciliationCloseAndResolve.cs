using System;
using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace KnowPay.Data.Migrations.Sqlite
{
    /// <inheritdoc />
    public partial class ReconciliationCloseAndResolve : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.AddColumn<string>(
                name: "entitlement_id",
                table: "reconciliation_items",
                type: "TEXT",
                maxLength: 200,
                nullable: true);

            migrationBuilder.AddColumn<string>(
                name: "order_id",
                table: "reconciliation_items",
                type: "TEXT",
                maxLength: 200,
                nullable: true);

            migrationBuilder.AddColumn<string>(
                name: "resolution_note",
                table: "reconciliation_items",
                type: "TEXT",
                maxLength: 1000,
                nullable: true);

            migrationBuilder.AddColumn<DateTime>(
                name: "resolved_at",
                table: "reconciliation_items",
                type: "TEXT",
                nullable: true);

            migrationBuilder.AddColumn<string>(
                name: "resolved_by",
                table: "reconciliation_items",
                type: "TEXT",
                maxLength: 200,
                nullable: true);

            migrationBuilder.AddColumn<DateOnly>(
                name: "corrects_day",
                table: "ledger_journals",
                type: "TEXT",
                nullable: true);

            migrationBuilder.CreateTable(
                name: "ledger_closes",
                columns: table => new
                {
                    id = table.Column<string>(type: "TEXT", maxLength: 200, nullable: false),
                    merchant_id = table.Column<string>(type: "TEXT", maxLength: 200, nullable: false),
                    currency = table.Column<string>(type: "TEXT", maxLength: 3, nullable: false),
                    day = table.Column<DateOnly>(type: "TEXT", nullable: false),
                    closed_at = table.Column<DateTime>(type: "TEXT", nullable: false),
                    closed_by = table.Column<string>(type: "TEXT", maxLength: 200, nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("pk_ledger_closes", x => x.id);
                });

            migrationBuilder.CreateTable(
                name: "ledger_close_lines",
                columns: table => new
                {
                    id = table.Column<long>(type: "INTEGER", nullable: false)
                        .Annotation("Sqlite:Autoincrement", true),
                    close_id = table.Column<string>(type: "TEXT", maxLength: 200, nullable: false),
                    account_class = table.Column<string>(type: "TEXT", maxLength: 200, nullable: false),
                    opening = table.Column<long>(type: "INTEGER", nullable: false),
                    payments = table.Column<long>(type: "INTEGER", nullable: false),
                    refunds = table.Column<long>(type: "INTEGER", nullable: false),
                    fees = table.Column<long>(type: "INTEGER", nullable: false),
                    payouts = table.Column<long>(type: "INTEGER", nullable: false),
                    other = table.Column<long>(type: "INTEGER", nullable: false),
                    closing = table.Column<long>(type: "INTEGER", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("pk_ledger_close_lines", x => x.id);
                    table.ForeignKey(
                        name: "fk_ledger_close_lines_ledger_closes_close_id",
                        column: x => x.close_id,
                        principalTable: "ledger_closes",
                        principalColumn: "id",
                        onDelete: ReferentialAction.Cascade);
                });

            migrationBuilder.CreateIndex(
                name: "ix_ledger_close_lines_close_id",
                table: "ledger_close_lines",
                column: "close_id");

            migrationBuilder.CreateIndex(
                name: "ix_ledger_closes_merchant_id_currency_day",
                table: "ledger_closes",
                columns: new[] { "merchant_id", "currency", "day" },
                unique: true);
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropTable(
                name: "ledger_close_lines");

            migrationBuilder.DropTable(
                name: "ledger_closes");

            migrationBuilder.DropColumn(
                name: "entitlement_id",
                table: "reconciliation_items");

            migrationBuilder.DropColumn(
                name: "order_id",
                table: "reconciliation_items");

            migrationBuilder.DropColumn(
                name: "resolution_note",
                table: "reconciliation_items");

            migrationBuilder.DropColumn(
                name: "resolved_at",
                table: "reconciliation_items");

            migrationBuilder.DropColumn(
                name: "resolved_by",
                table: "reconciliation_items");

            migrationBuilder.DropColumn(
                name: "corrects_day",
                table: "ledger_journals");
        }
    }
}
