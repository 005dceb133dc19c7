using System;
using Microsoft.EntityFrameworkCore.Migrations;
using Npgsql.EntityFrameworkCore.PostgreSQL.Metadata;

#nullable disable

namespace KnowPay.Data.Migrations.Postgres
{
    /// <inheritdoc />
    public partial class AddReconciliation : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.CreateTable(
                name: "bill_lines",
                columns: table => new
                {
                    id = table.Column<long>(type: "bigint", nullable: false)
                        .Annotation("Npgsql:ValueGenerationStrategy", NpgsqlValueGenerationStrategy.IdentityByDefaultColumn),
                    provider = table.Column<string>(type: "character varying(200)", maxLength: 200, nullable: false),
                    day = table.Column<DateOnly>(type: "date", nullable: false),
                    key = table.Column<string>(type: "character varying(200)", maxLength: 200, nullable: false),
                    run_id = table.Column<string>(type: "character varying(200)", maxLength: 200, nullable: false),
                    line_number = table.Column<int>(type: "integer", nullable: false),
                    kind = table.Column<string>(type: "character varying(16)", maxLength: 16, nullable: false),
                    out_trade_no = table.Column<string>(type: "character varying(200)", maxLength: 200, nullable: false),
                    provider_trade_no = table.Column<string>(type: "character varying(200)", maxLength: 200, nullable: true),
                    out_refund_no = table.Column<string>(type: "character varying(200)", maxLength: 200, nullable: true),
                    provider_refund_no = table.Column<string>(type: "character varying(200)", maxLength: 200, nullable: true),
                    amount = table.Column<long>(type: "bigint", nullable: false),
                    currency = table.Column<string>(type: "character varying(200)", maxLength: 200, nullable: false),
                    fee = table.Column<long>(type: "bigint", nullable: false),
                    status = table.Column<string>(type: "character varying(16)", maxLength: 16, nullable: false),
                    at = table.Column<DateTime>(type: "timestamp with time zone", nullable: true)
                },
                constraints: table =>
                {
                    table.PrimaryKey("pk_bill_lines", x => x.id);
                });

            migrationBuilder.CreateTable(
                name: "reconciliation_items",
                columns: table => new
                {
                    id = table.Column<string>(type: "character varying(200)", maxLength: 200, nullable: false),
                    run_id = table.Column<string>(type: "character varying(200)", maxLength: 200, nullable: false),
                    kind = table.Column<string>(type: "character varying(32)", maxLength: 32, nullable: false),
                    merchant_id = table.Column<string>(type: "character varying(200)", maxLength: 200, nullable: true),
                    payment_id = table.Column<string>(type: "character varying(200)", maxLength: 200, nullable: true),
                    refund_id = table.Column<string>(type: "character varying(200)", maxLength: 200, nullable: true),
                    line_key = table.Column<string>(type: "character varying(200)", maxLength: 200, nullable: true),
                    expected_amount = table.Column<long>(type: "bigint", nullable: true),
                    bill_amount = table.Column<long>(type: "bigint", nullable: true),
                    currency = table.Column<string>(type: "character varying(200)", maxLength: 200, nullable: true),
                    resolution = table.Column<string>(type: "character varying(200)", maxLength: 200, nullable: true),
                    note = table.Column<string>(type: "character varying(1000)", maxLength: 1000, nullable: true),
                    created_at = table.Column<DateTime>(type: "timestamp with time zone", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("pk_reconciliation_items", x => x.id);
                });

            migrationBuilder.CreateTable(
                name: "reconciliation_runs",
                columns: table => new
                {
                    id = table.Column<string>(type: "character varying(200)", maxLength: 200, nullable: false),
                    provider = table.Column<string>(type: "character varying(200)", maxLength: 200, nullable: false),
                    day = table.Column<DateOnly>(type: "date", nullable: false),
                    status = table.Column<string>(type: "character varying(16)", maxLength: 16, nullable: false),
                    reason = table.Column<string>(type: "character varying(1000)", maxLength: 1000, nullable: true),
                    failed_line = table.Column<int>(type: "integer", nullable: true),
                    line_count = table.Column<int>(type: "integer", nullable: false),
                    checksum = table.Column<string>(type: "character varying(200)", maxLength: 200, nullable: true),
                    matched = table.Column<int>(type: "integer", nullable: false),
                    differences = table.Column<int>(type: "integer", nullable: false),
                    attempts = table.Column<int>(type: "integer", nullable: false),
                    created_at = table.Column<DateTime>(type: "timestamp with time zone", nullable: false),
                    started_at = table.Column<DateTime>(type: "timestamp with time zone", nullable: true),
                    completed_at = table.Column<DateTime>(type: "timestamp with time zone", nullable: true)
                },
                constraints: table =>
                {
                    table.PrimaryKey("pk_reconciliation_runs", x => x.id);
                });

            migrationBuilder.CreateIndex(
                name: "ix_bill_lines_provider_day_key",
                table: "bill_lines",
                columns: new[] { "provider", "day", "key" },
                unique: true);

            migrationBuilder.CreateIndex(
                name: "ix_bill_lines_provider_out_trade_no",
                table: "bill_lines",
                columns: new[] { "provider", "out_trade_no" });

            migrationBuilder.CreateIndex(
                name: "ix_bill_lines_run_id",
                table: "bill_lines",
                column: "run_id");

            migrationBuilder.CreateIndex(
                name: "ix_reconciliation_items_run_id_kind_id",
                table: "reconciliation_items",
                columns: new[] { "run_id", "kind", "id" });

            migrationBuilder.CreateIndex(
                name: "ix_reconciliation_runs_provider_day",
                table: "reconciliation_runs",
                columns: new[] { "provider", "day" },
                unique: true);
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropTable(
                name: "bill_lines");

            migrationBuilder.DropTable(
                name: "reconciliation_items");

            migrationBuilder.DropTable(
                name: "reconciliation_runs");
        }
    }
}
