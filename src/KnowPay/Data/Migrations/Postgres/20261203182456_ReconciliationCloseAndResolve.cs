using System;
using Microsoft.EntityFrameworkCore.Migrations;
using Npgsql.EntityFrameworkCore.PostgreSQL.Metadata;

#nullable disable

namespace KnowPay.Data.Migrations.Postgres
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
                type: "character varying(200)",
                maxLength: 200,
                nullable: true);

            migrationBuilder.AddColumn<string>(
                name: "order_id",
                table: "reconciliation_items",
                type: "character varying(200)",
                maxLength: 200,
                nullable: true);

            migrationBuilder.AddColumn<string>(
                name: "resolution_note",
                table: "reconciliation_items",
                type: "character varying(1000)",
                maxLength: 1000,
                nullable: true);

            migrationBuilder.AddColumn<DateTime>(
                name: "resolved_at",
                table: "reconciliation_items",
                type: "timestamp with time zone",
                nullable: true);

            migrationBuilder.AddColumn<string>(
                name: "resolved_by",
                table: "reconciliation_items",
                type: "character varying(200)",
                maxLength: 200,
                nullable: true);

            migrationBuilder.AddColumn<DateOnly>(
                name: "corrects_day",
                table: "ledger_journals",
                type: "date",
                nullable: true);

            migrationBuilder.CreateTable(
                name: "ledger_closes",
                columns: table => new
                {
                    id = table.Column<string>(type: "character varying(200)", maxLength: 200, nullable: false),
                    merchant_id = table.Column<string>(type: "character varying(200)", maxLength: 200, nullable: false),
                    currency = table.Column<string>(type: "character varying(3)", maxLength: 3, nullable: false),
                    day = table.Column<DateOnly>(type: "date", nullable: false),
                    closed_at = table.Column<DateTime>(type: "timestamp with time zone", nullable: false),
                    closed_by = table.Column<string>(type: "character varying(200)", maxLength: 200, nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("pk_ledger_closes", x => x.id);
                });

            migrationBuilder.CreateTable(
                name: "ledger_close_lines",
                columns: table => new
                {
                    id = table.Column<long>(type: "bigint", nullable: false)
                        .Annotation("Npgsql:ValueGenerationStrategy", NpgsqlValueGenerationStrategy.IdentityByDefaultColumn),
                    close_id = table.Column<string>(type: "character varying(200)", maxLength: 200, nullable: false),
                    account_class = table.Column<string>(type: "character varying(200)", maxLength: 200, nullable: false),
                    opening = table.Column<long>(type: "bigint", nullable: false),
                    payments = table.Column<long>(type: "bigint", nullable: false),
                    refunds = table.Column<long>(type: "bigint", nullable: false),
                    fees = table.Column<long>(type: "bigint", nullable: false),
                    payouts = table.Column<long>(type: "bigint", nullable: false),
                    other = table.Column<long>(type: "bigint", nullable: false),
                    closing = table.Column<long>(type: "bigint", nullable: false)
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
